"""Speech synthesis: Piper when ``ASSISTANT_PIPER_VOICE`` names a voice, espeak-ng Vietnamese otherwise.

``synthesizer(settings)`` returns the configured engine (cached per voice); every engine turns text
into 16-bit mono PCM at its own rate. Helpers at the edges:

* :func:`render_ulaw` — 8 kHz μ-law bytes for the phone (Twilio, SIP);
* :func:`render_wav` — a browser-playable WAV (the editor's preview endpoint calls it).

No engine downloads anything: Piper needs a local ``.onnx`` voice (with its ``.onnx.json``), espeak-ng
is the Debian package ``espeak-ng`` (``scripts/system-deps.sh``).
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import subprocess
import threading
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import numpy as np

from assistant.config import Settings
from assistant.errors import AssistantError
from voice.audio import mulaw_encode, read_wav, resample, wav_bytes
from voice.audio.g711 import SAMPLE_RATE

log = logging.getLogger("assistant.voice.tts")
MAX_TTS_CHARS = 3000


class SynthesisError(AssistantError):
    """Speech synthesis failed (engine missing, bad voice file, empty text)."""


class Synthesizer(Protocol):
    """Text → (``int16`` mono PCM, sample rate). ``voice_id`` names engine and voice (cache keys)."""

    voice_id: str

    def synthesize(self, text: str) -> tuple[np.ndarray, int]: ...


def _clean(text: str) -> str:
    if not isinstance(text, str):
        raise SynthesisError("text to speak must be a string")
    text = " ".join(text.replace("*", " ").replace("#", " ").split())
    if not text:
        raise SynthesisError("nothing to speak: the text is empty")
    if len(text) > MAX_TTS_CHARS:
        raise SynthesisError(f"text to speak is too long ({len(text)} > {MAX_TTS_CHARS} characters)")
    return text


class EspeakTTS:
    """espeak-ng through its command line (``-v vi``): instant, robotic, always offline."""

    def __init__(self, voice: str = "vi", *, speed: int = 165, binary: str | None = None):
        self.binary = binary or shutil.which("espeak-ng")
        if self.binary is None:
            raise SynthesisError("espeak-ng is not installed (apt-get install espeak-ng; scripts/system-deps.sh)")
        self.voice = voice
        self.speed = speed
        self.voice_id = f"espeak-ng:{voice}:{speed}"

    def synthesize(self, text: str) -> tuple[np.ndarray, int]:
        text = _clean(text)
        try:
            done = subprocess.run([self.binary, "-v", self.voice, "-s", str(self.speed), "--stdout"],
                                  input=text.encode("utf-8"), capture_output=True, timeout=60, check=True)
        except (subprocess.SubprocessError, OSError) as exc:
            raise SynthesisError(f"espeak-ng failed: {exc}") from exc
        return read_wav(done.stdout)


class PiperTTS:
    """A Piper voice (``.onnx`` + ``.onnx.json``) run by ``piper-tts`` on the CPU."""

    def __init__(self, model_path: Path):
        model_path = Path(model_path)
        if not model_path.is_file() or not Path(f"{model_path}.json").is_file():
            raise SynthesisError(f"Piper voice not found: {model_path} (and {model_path}.json)")
        try:
            from piper import PiperVoice
        except ImportError as exc:  # pragma: no cover - piper-tts is a dependency
            raise SynthesisError("piper-tts is not installed") from exc
        self.voice = PiperVoice.load(str(model_path))
        self._lock = threading.Lock()  # one ONNX session per voice; keep calls ordered
        digest = hashlib.sha256(f"{model_path.name}:{model_path.stat().st_size}".encode()).hexdigest()[:12]
        self.voice_id = f"piper:{model_path.stem}:{digest}"

    def synthesize(self, text: str) -> tuple[np.ndarray, int]:
        text = _clean(text)
        with self._lock:
            chunks = list(self.voice.synthesize(text))
        if not chunks:
            raise SynthesisError("Piper produced no audio")
        pcm = np.concatenate([np.frombuffer(c.audio_int16_bytes, dtype=np.int16) for c in chunks])
        return pcm, chunks[0].sample_rate


@lru_cache(maxsize=4)
def _engine(piper_voice: str | None, espeak_voice: str) -> Synthesizer:
    if piper_voice:
        return PiperTTS(Path(piper_voice))
    return EspeakTTS(espeak_voice)


def synthesizer(settings: Settings) -> Synthesizer:
    """The configured engine, loaded once per voice."""
    return _engine(str(settings.piper_voice) if settings.piper_voice else None, settings.espeak_voice)


def voice_id(settings: Settings) -> str:
    return synthesizer(settings).voice_id


def render_pcm(text: str, settings: Settings, rate: int = SAMPLE_RATE) -> np.ndarray:
    """``text`` spoken as ``int16`` PCM at ``rate``."""
    pcm, src = synthesizer(settings).synthesize(text)
    return resample(pcm, src, rate)


def render_ulaw(text: str, settings: Settings) -> bytes:
    """``text`` spoken as 8 kHz μ-law (the phone format)."""
    return mulaw_encode(render_pcm(text, settings, SAMPLE_RATE))


def render_wav(text: str, settings: Settings) -> bytes:
    """``text`` spoken as a browser-playable 16-bit mono WAV at the engine's own rate.

    Raises :class:`SynthesisError` (an ``AssistantError``) for empty or over-long text or a missing engine.
    """
    pcm, rate = synthesizer(settings).synthesize(text)
    return wav_bytes(pcm, rate)
