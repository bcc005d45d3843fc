"""Read any PCM WAV file as 16-bit mono at a chosen rate; write browser-playable WAV bytes."""

from __future__ import annotations

import io
import wave
from pathlib import Path

import numpy as np

from voice.audio.resample import resample


class AudioFormatError(ValueError):
    """The file is not a PCM WAV we can read."""


def read_wav(source: str | Path | bytes, rate: int | None = None) -> tuple[np.ndarray, int]:
    """Samples (``int16``, mono: channels averaged) and their rate, resampled to ``rate`` if given."""
    try:
        with wave.open(io.BytesIO(source) if isinstance(source, bytes) else str(source), "rb") as w:
            width, channels, src_rate = w.getsampwidth(), w.getnchannels(), w.getframerate()
            raw = w.readframes(w.getnframes())
    except (wave.Error, EOFError) as exc:
        raise AudioFormatError(f"not a PCM WAV file: {exc}") from exc
    if width == 2:
        pcm = np.frombuffer(raw, dtype="<i2").astype(np.int32)
    elif width == 1:
        pcm = (np.frombuffer(raw, dtype=np.uint8).astype(np.int32) - 128) << 8
    elif width == 4:
        pcm = np.frombuffer(raw, dtype="<i4").astype(np.int64) >> 16
    else:
        raise AudioFormatError(f"unsupported sample width: {width} bytes")
    if channels > 1:
        pcm = pcm.reshape(-1, channels).mean(axis=1)
    pcm = np.asarray(pcm, dtype=np.int16)
    if rate is not None and rate != src_rate:
        return resample(pcm, src_rate, rate), rate
    return pcm, src_rate


def wav_bytes(pcm: np.ndarray, rate: int) -> bytes:
    """A 16-bit mono PCM WAV file (plays in every browser)."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.asarray(pcm, dtype="<i2").tobytes())
    return buf.getvalue()
