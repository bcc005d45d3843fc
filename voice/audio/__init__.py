"""Audio at the telephony edge: G.711 μ-law, resampling and WAV files.

The core works on 16-bit mono PCM (``numpy.int16``); μ-law 8 kHz exists only at the transport edge.
"""

from voice.audio.g711 import FRAME_BYTES, FRAME_MS, SAMPLE_RATE, mulaw_decode, mulaw_encode
from voice.audio.resample import resample
from voice.audio.wav import read_wav, wav_bytes

__all__ = ["FRAME_BYTES", "FRAME_MS", "SAMPLE_RATE", "mulaw_decode", "mulaw_encode", "read_wav", "resample",
           "wav_bytes"]
