"""Hỏi đáp Công an: Vietnamese-first assistant for police administrative procedures."""

import os

# OpenMP threads (torch) spin for a long while when they wait for work. On 2 cores shared by Rasa, the
# action server, the app and speech recognition, that spinning made an action-server turn cost ~280 ms
# of CPU instead of ~40 ms. A short spin (then sleep) keeps the idle-machine latency (26.8 ms p50 per
# question, as with the default) and bounds the cost under contention; OMP_WAIT_POLICY=PASSIVE (no
# spin) cost 5 ms per question. Set before torch loads; a deployer's own setting wins.
if "OMP_WAIT_POLICY" not in os.environ:
    os.environ.setdefault("GOMP_SPINCOUNT", "10000")

__version__ = "0.1.0"
