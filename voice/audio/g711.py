"""G.711 μ-law codec in numpy, bit-exact with ITU-T G.711 (and the old ``audioop.lin2ulaw``).

Phone audio is 8 kHz μ-law: one byte per sample, a 20 ms frame is 160 bytes.
"""

from __future__ import annotations

import numpy as np

SAMPLE_RATE = 8000
FRAME_MS = 20
FRAME_BYTES = SAMPLE_RATE * FRAME_MS // 1000  # 160

_BIAS = 0x84


def _decode_table() -> np.ndarray:
    u = ~np.arange(256, dtype=np.int32) & 0xFF
    sign = u & 0x80
    exponent = (u >> 4) & 0x07
    mantissa = u & 0x0F
    magnitude = (((mantissa << 3) + _BIAS) << exponent) - _BIAS
    return np.where(sign != 0, -magnitude, magnitude).astype(np.int16)


_DECODE = _decode_table()


def mulaw_decode(data: bytes | np.ndarray) -> np.ndarray:
    """μ-law bytes → 16-bit PCM samples (``int16``)."""
    codes = np.frombuffer(data, dtype=np.uint8) if isinstance(data, bytes | bytearray | memoryview) else data
    return _DECODE[np.asarray(codes, dtype=np.uint8)]


def mulaw_encode(pcm: np.ndarray) -> bytes:
    """16-bit PCM samples → μ-law bytes (G.711's 14-bit segment search, vectorised)."""
    v = np.asarray(pcm, dtype=np.int32) >> 2
    mask = np.where(v < 0, 0x7F, 0xFF)
    v = np.minimum(np.abs(v), 8159) + 0x21
    segment = np.maximum(np.floor(np.log2(v)).astype(np.int32) - 5, 0)
    code = np.where(segment > 7, 0x7F, (segment << 4) | ((v >> (segment + 1)) & 0x0F))
    return (code ^ mask).astype(np.uint8).tobytes()
