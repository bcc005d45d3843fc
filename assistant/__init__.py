"""Hỏi đáp Công an: Vietnamese-first assistant for police administrative procedures."""

import os

# OpenMP threads (torch, faiss) spin while waiting for work by default. On 2 cores shared by Rasa, the
# action server, the app and speech recognition, that spinning made an action-server turn cost ~300 ms
# of CPU instead of ~40 ms (evaluation/reports/dialogue_latency.md). Set before torch loads; a
# deployer's own OMP_WAIT_POLICY wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
