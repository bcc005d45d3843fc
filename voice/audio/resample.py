"""Sample-rate conversion with a polyphase filter (``scipy.signal.resample_poly``)."""

from __future__ import annotations

from math import gcd

import numpy as np
from scipy.signal import resample_poly


def resample(pcm: np.ndarray, src_rate: int, dst_rate: int) -> np.ndarray:
    """Resample 16-bit PCM (``int16``) from ``src_rate`` to ``dst_rate``; returns ``int16``."""
    if src_rate <= 0 or dst_rate <= 0:
        raise ValueError(f"sample rates must be positive, not {src_rate} → {dst_rate}")
    pcm = np.asarray(pcm)
    if src_rate == dst_rate or pcm.size == 0:
        return pcm.astype(np.int16, copy=False)
    g = gcd(src_rate, dst_rate)
    out = resample_poly(pcm.astype(np.float32), dst_rate // g, src_rate // g)
    return np.clip(np.round(out), -32768, 32767).astype(np.int16)


def to_float(pcm: np.ndarray) -> np.ndarray:
    """``int16`` PCM → ``float32`` in [-1, 1) (what faster-whisper takes)."""
    return np.asarray(pcm, dtype=np.float32) / 32768.0
