"""Whole calls against a real uvicorn on 127.0.0.1: signed webhooks, Media Streams, real Whisper base.

Calls go through voice.call_sim (what ``assistant call-sim`` runs): the signed ``incoming`` webhook,
then the WebSocket with the one-time token, caller audio as 20 ms μ-law frames.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time

import httpx
import numpy as np
import pytest
from voice_twilio_helpers import calls, closed_code, incoming, open_stream, ws_url

from voice.audio import mulaw_encode, wav_bytes
from voice.call_sim import SILENCE, MediaStreamClient, signed_post, simulate_call, stream_from_twiml, wav_to_frames
from voice.tts import render_pcm

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _syllables(text):
    import re

    return re.findall(r"\w+", text.lower())


def test_incoming_returns_stream_twiml_and_forged_requests_get_403(voice_server):
    r = incoming(voice_server)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/xml")
    url, params = stream_from_twiml(r.text)
    assert "<Connect><Stream" in r.text and url == "wss://hotline.example.test/voice/twilio/stream"
    assert set(params) == {"token", "from"} and params["token"].count(".") == 2
    assert incoming(voice_server, signature="").status_code == 403
    assert incoming(voice_server, signature="bm90IGEgc2lnbmF0dXJl").status_code == 403
    forged = signed_post(None, voice_server.url, voice_server.settings.public_url, "wrong-token",
                         "/voice/twilio/incoming", {"CallSid": "CA1"})
    assert forged.status_code == 403
    # signed for the local address instead of the public URL Twilio called: rejected too
    local = signed_post(None, voice_server.url, voice_server.url, voice_server.settings.twilio_auth_token,
                        "/voice/twilio/incoming", {"CallSid": "CA1"})
    assert local.status_code == 403


def test_status_callbacks_and_authenticated_call_list(voice_server):
    s = voice_server.settings
    sid = "CA" + "5" * 32
    bad = signed_post(None, voice_server.url, s.public_url, "forged", "/voice/twilio/status",
                      {"CallSid": sid, "CallStatus": "completed"})
    assert bad.status_code == 403
    ok = signed_post(None, voice_server.url, s.public_url, s.twilio_auth_token, "/voice/twilio/status",
                     {"CallSid": sid, "CallStatus": "completed", "CallDuration": "42", "From": "+84912345678"})
    assert ok.status_code == 204
    call = next(c for c in calls(voice_server) if c["external_id"] == sid)
    assert call["provider_status"] == "completed" and call["duration_s"] == 42 and "12345678" not in call["caller"]
    assert httpx.get(voice_server.url + "/voice/calls").status_code == 401
    assert httpx.get(voice_server.url + "/voice/calls", headers={"Authorization": "Bearer nope"}).status_code == 401


def test_stream_without_a_valid_one_time_token_is_closed(voice_server):
    async def run():
        codes = []
        client = await open_stream(voice_server, token_params={})  # no token
        codes.append(await closed_code(client))
        client = await open_stream(voice_server, token_params={"token": "1.2.3"})  # forged token
        codes.append(await closed_code(client))
        sid = "CA" + "7" * 32
        _, params = stream_from_twiml(incoming(voice_server, sid).text)
        client = await open_stream(voice_server, token_params=params, call_sid="CA" + "8" * 32)  # other call's token
        codes.append(await closed_code(client))
        first = await open_stream(voice_server, token_params=params, call_sid=sid)  # valid once...
        await asyncio.sleep(0.5)
        assert not first.closed.is_set() and first.received_frames > 0  # greeting is playing
        again = await open_stream(voice_server, token_params=params, call_sid=sid)  # ...not twice
        codes.append(await closed_code(again))
        await first.stop()
        return codes

    assert asyncio.run(run()) == [1008, 1008, 1008, 1008]


@pytest.mark.parametrize("bad", ["not json", "[1, 2]", '{"event": "media", "media": {"payload": "%%%"}}',
                                 "OVERSIZED", "BINARY", "MEDIA_BEFORE_START", "SECOND_START", "BAD_DTMF"])
def test_malformed_messages_end_the_call_cleanly_not_the_server(voice_server, bad):
    async def run():
        start = bad not in ("MEDIA_BEFORE_START",)
        if start:
            client = await open_stream(voice_server)
        else:
            client = MediaStreamClient(ws_url(voice_server), call_sid="CA" + "9" * 32, playback_rate=0)
            await client.connect(send_start=False)
        if bad == "OVERSIZED":
            await client.send(json.dumps({"event": "media", "media": {"payload": "A" * 200_000}}))
        elif bad == "BINARY":
            await client.ws.send(b"\x00\x01\x02")
        elif bad == "MEDIA_BEFORE_START":
            await client.send_audio(SILENCE)
        elif bad == "SECOND_START":
            await client.send({"event": "start", "start": {"streamSid": "MZ1", "callSid": client.call_sid}})
        elif bad == "BAD_DTMF":
            await client.send({"event": "dtmf", "dtmf": {"digit": "x; drop table"}})
        else:
            await client.send(bad)
        return await closed_code(client)

    code = asyncio.run(run())
    assert code in (1008, 1009)
    assert httpx.get(voice_server.url + "/healthz").status_code == 200
    assert incoming(voice_server).status_code == 200


def test_natural_recordings_are_transcribed_and_answered(voice_server, speech_dir):
    for name in ("vi_natural_02", "vi_natural_06"):
        result = asyncio.run(simulate_call(voice_server.url, speech_dir / f"{name}.wav",
                                           auth_token=voice_server.settings.twilio_auth_token,
                                           public_url=voice_server.settings.public_url,
                                           calls_token=voice_server.settings.calls_token,
                                           realtime=False, playback_rate=0))
        assert result.error is None, result.error
        reference = _syllables((speech_dir / f"{name}.txt").read_text())
        heard = set(_syllables(result.transcript or ""))
        assert sum(w in heard for w in reference) >= 0.5 * len(reference), (result.transcript, reference)
        assert result.answer_frames > 0 and result.first_audio_after_speech_ms is not None
        assert result.turns[-1]["timings"]["stt_ms"] > 0  # recorded with timings


def test_generated_speech_dtmf_barge_in_and_transfer(voice_server, fake_twilio, tmp_path):
    question = render_pcm("Cho tôi hỏi thủ tục làm hộ chiếu phổ thông.", voice_server.settings, 8000)
    frames = wav_to_frames(wav_bytes(question, 8000))

    async def run():
        client = await open_stream(voice_server)
        client.playback_rate = 1.0  # the greeting keeps "playing" in real time
        await asyncio.sleep(0.3)
        for frame in frames:  # talk over the greeting: barge-in
            await client.send_audio(frame)
        for _ in range(60):
            await client.send_audio(SILENCE)
        await asyncio.sleep(0.5)
        assert client.clears, "no clear on barge-in"
        deadline = time.monotonic() + 20
        # the reply to the question: the first audio after the barge-in's clear (nothing of the greeting
        # follows a clear). It may already be here: a fast decode answers within the 0.5 s above.
        while client.first_media_after(client.clears[0]) is None and time.monotonic() < deadline:
            await client.send_audio(SILENCE)
            await asyncio.sleep(0.02)
        assert client.playing(), "no reply, or it has already been played"
        clears = len(client.clears)  # the reply is still "playing" (real-time playback): its mark is not back
        await client.send_dtmf("9")  # the menu, at any time; interrupts what plays
        await asyncio.sleep(0.3)
        assert len(client.clears) > clears
        await client.send_dtmf("0")  # an officer
        await asyncio.wait_for(client.closed.wait(), 20)
        return client

    client = asyncio.run(run())
    update = next(r for r in fake_twilio.requests if client.call_sid in r["path"])
    assert update["path"].endswith(f"/Calls/{client.call_sid}.json")
    assert f"<Dial answerOnBridge=\"true\"><Number>{voice_server.settings.transfer_target}</Number></Dial>" in update["form"]["Twiml"]
    time.sleep(0.3)
    call = next(c for c in calls(voice_server) if c["external_id"] == client.call_sid)
    assert call["outcome"] == "transferred" and call["barge_ins"] >= 1
    kinds = [(t["kind"], t["outcome"]) for t in call["turns"]]
    assert ("dtmf", "menu") in kinds and ("dtmf", "transfer") in kinds and kinds[0][0] == "speech"


def test_call_sim_command_end_to_end(voice_server, speech_dir, tmp_path):
    s = voice_server.settings
    env = dict(os.environ, ASSISTANT_TWILIO_AUTH_TOKEN=s.twilio_auth_token, ASSISTANT_PUBLIC_URL=s.public_url,
               ASSISTANT_CALLS_TOKEN=s.calls_token)
    exe = os.path.join(os.path.dirname(sys.executable), "assistant")
    done = subprocess.run([exe, "call-sim", "--url", voice_server.url, "--json", "--fast",
                           str(speech_dir / "vi_natural_03.wav")], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert {"transcript", "answer", "audio_frames_received", "first_audio_after_speech_ms"} <= set(result)
    assert result["transcript"] and result["answer"] and result["audio_frames_received"] > 0
    assert result["first_audio_after_speech_ms"] > 0  # its size is the benchmark's business (shared CPU here)
    bad = subprocess.run([exe, "call-sim", "--url", voice_server.url, str(tmp_path / "missing.wav")],
                         capture_output=True, text=True, env=env, timeout=60)
    assert bad.returncode == 2 and "không có tệp" in bad.stdout + bad.stderr


def test_silence_only_call_produces_no_text(voice_server):
    async def run():
        client = await open_stream(voice_server)
        await asyncio.sleep(0.2)
        noise = np.random.default_rng(3).normal(0, 40, 160 * 150).astype(np.int16)
        for i in range(150):
            await client.send_audio(mulaw_encode(noise[i * 160:(i + 1) * 160]))
        await asyncio.sleep(0.5)
        await client.stop()
        return client

    client = asyncio.run(run())
    time.sleep(0.3)
    call = next(c for c in calls(voice_server) if c["external_id"] == client.call_sid)
    assert call["turns"] == [] and call["outcome"] == "abandoned"
