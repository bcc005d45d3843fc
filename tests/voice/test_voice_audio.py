"""Codec exactness, resampling, WAV I/O and VAD silence behaviour (fast, no model)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from voice.audio import mulaw_decode, mulaw_encode, read_wav, resample, wav_bytes
from voice.audio.wav import AudioFormatError
from voice.vad import FRAME_SAMPLES, EndpointOptions, Endpointer, VadEvent


def test_mulaw_is_bit_exact_with_g711_reference():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import audioop  # the reference; gone in 3.13, which is why voice.audio exists
    every = np.arange(-32768, 32768, dtype=np.int16)
    assert mulaw_encode(every) == audioop.lin2ulaw(every.tobytes(), 2)
    codes = bytes(range(256))
    assert mulaw_decode(codes).tobytes() == audioop.ulaw2lin(codes, 2)


def test_mulaw_round_trip_is_idempotent_and_error_is_bounded():
    codes = bytes(range(256))
    assert mulaw_encode(mulaw_decode(codes)) == codes.replace(b"\x7f", b"\xff")  # -0 and +0 decode the same
    x = (np.sin(np.linspace(0, 200, 8000)) * 20000).astype(np.int16)
    err = np.abs(mulaw_decode(mulaw_encode(x)).astype(int) - x)
    assert err.max() <= 1024 and err.mean() < 200


def test_resample_lengths_and_tone():
    t = np.arange(8000) / 8000
    tone = (np.sin(2 * np.pi * 440 * t) * 10000).astype(np.int16)
    up = resample(tone, 8000, 16000)
    assert up.dtype == np.int16 and len(up) == 16000
    spectrum = np.abs(np.fft.rfft(up.astype(float)))
    assert abs(np.argmax(spectrum) - 440) <= 1  # 1 s at 16 kHz: bin = Hz
    assert len(resample(np.zeros(24000, np.int16), 24000, 8000)) == 8000
    with pytest.raises(ValueError):
        resample(tone, 0, 8000)


def test_wav_round_trip_and_bad_file():
    pcm = (np.random.default_rng(0).normal(0, 3000, 4000)).astype(np.int16)
    data = wav_bytes(pcm, 8000)
    assert data[:4] == b"RIFF"
    back, rate = read_wav(data)
    assert rate == 8000 and np.array_equal(back, pcm)
    with pytest.raises(AudioFormatError):
        read_wav(b"not a wav file at all")


def _frames(pcm):
    return [pcm[i:i + FRAME_SAMPLES] for i in range(0, len(pcm) - FRAME_SAMPLES + 1, FRAME_SAMPLES)]


def test_vad_says_nothing_on_silence_hiss_and_hum():
    rng = np.random.default_rng(1)
    t = np.arange(8000 * 3) / 8000
    signals = [np.zeros(8000 * 3, np.int16), rng.normal(0, 30, 8000 * 3).astype(np.int16),
               (np.sin(2 * np.pi * 50 * t) * 60).astype(np.int16)]
    for pcm in signals:
        ep = Endpointer()
        events = [e for f in _frames(pcm) if (e := ep.feed(f)) is not None]
        assert events == [] and len(ep.utterance()) == 0


def test_endpointer_turn_events_on_real_speech(speech_dir):
    pcm, _ = read_wav(speech_dir / "vi_natural_02.wav", 8000)
    pcm = np.concatenate([np.zeros(4000, np.int16), pcm, np.zeros(8000, np.int16)])
    ep = Endpointer(EndpointOptions(end_ms=600))
    events = [e for f in _frames(pcm) if (e := ep.feed(f)) is not None]
    assert events[0] is VadEvent.SPEECH_START and events[-1] is VadEvent.SPEECH_END
    assert events.count(VadEvent.SPEECH_END) == 1
    speech_s = len(ep.utterance()) / 8000
    assert 2.0 < speech_s < 3.6  # the 3.07 s recording, trailing pause trimmed, ~200 ms pre-roll
    with pytest.raises(ValueError):
        ep.feed(np.zeros(100, np.int16))


def test_a_cut_long_turn_starts_the_next_one_afresh(speech_dir):
    """At the utterance limit the turn is cut; the caller still talking opens a new turn only after
    ``start_ms`` of new speech, with a pre-roll taken after the cut (not from before the first turn)."""
    pcm, _ = read_wav(speech_dir / "vi_natural_06.wav", 8000)
    frames = _frames(np.concatenate([np.zeros(4000, np.int16), pcm]))
    ep = Endpointer(EndpointOptions(max_utterance_ms=1000))
    events = []
    for i, f in enumerate(frames):
        event = ep.feed(f)
        if event is not None:
            events.append((i, event))
        if event is VadEvent.SPEECH_START and len([e for _, e in events if e is VadEvent.SPEECH_START]) == 2:
            break
    (cut, _), (reopened, _) = [(i, e) for i, e in events if e in (VadEvent.SPEECH_END, VadEvent.SPEECH_START)][1:3]
    assert reopened - cut >= ep.options.start_ms // 20
    first = ep.utterance()[:FRAME_SAMPLES]
    assert any(np.array_equal(first, frames[k]) for k in range(cut + 1, reopened + 1))
