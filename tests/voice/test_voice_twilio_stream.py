"""The Media Streams edge against a real uvicorn on 127.0.0.1: time limits, bad formats, a failing start,
barge-in while an answer is being sent, status callbacks before the stream, transfers to a hung API,
and a call carrying only line noise (real webrtcvad and Whisper base)."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time

import numpy as np
import pytest
from fastapi import FastAPI, WebSocket
from voice_twilio_helpers import calls, closed_code, incoming, open_stream, status, ws_url

from voice.audio import mulaw_encode
from voice.call_sim import MediaStreamClient, stream_from_twiml
from voice.local_server import LocalServer
from voice.runtime import voice_runtime
from voice.tts import SynthesisError
from voice.twilio import media_stream, transfer
from voice.twilio.media_stream import TwilioTransport

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _call(server, call_sid, timeout=5.0):
    deadline = time.monotonic() + timeout
    while True:
        found = [c for c in calls(server) if c["external_id"] == call_sid]
        if (found and found[0]["outcome"]) or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def test_a_stream_that_never_starts_is_closed(voice_server, monkeypatch):
    monkeypatch.setattr(media_stream, "START_TIMEOUT_S", 0.5)

    async def run():
        quiet = MediaStreamClient(ws_url(voice_server), call_sid="CA" + "3" * 32, playback_rate=0)
        await quiet.connect(send_start=False)  # 'connected', then nothing
        chatty = MediaStreamClient(ws_url(voice_server), call_sid="CA" + "4" * 32, playback_rate=0)
        await chatty.connect(send_start=False)
        started = time.monotonic()
        while not chatty.closed.is_set() and time.monotonic() - started < 5:  # 'connected' again and again
            await chatty.send({"event": "connected", "protocol": "Call", "version": "1.0.0"})
            await asyncio.sleep(0.1)
        return await closed_code(quiet, 5), await closed_code(chatty, 5), time.monotonic() - started

    quiet, chatty, took = asyncio.run(run())
    assert (quiet, chatty) == (1008, 1008) and took < 3


@pytest.mark.parametrize("rate", ["8k", None, [8000], "16000"])
def test_a_bad_sample_rate_is_a_protocol_error(voice_server, rate):
    async def run():
        sid = "CA" + "6" * 32
        _, params = stream_from_twiml(incoming(voice_server, sid).text)
        client = MediaStreamClient(ws_url(voice_server), call_sid=sid, playback_rate=0)
        await client.connect(send_start=False)
        await client.send({"event": "start", "start": {
            "streamSid": "MZ1", "callSid": sid, "customParameters": params,
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": rate, "channels": 1}}})
        return await closed_code(client)

    assert asyncio.run(run()) == 1008


def test_a_call_whose_start_fails_is_ended_and_recorded(voice_server, monkeypatch):
    services = voice_runtime(voice_server.app).start_loading().result(timeout=60)
    speak = services.audio.speak

    def broken(text):
        if text.startswith("Xin chào"):
            raise SynthesisError("no greeting today")
        return speak(text)

    monkeypatch.setattr(services.audio, "speak", broken)

    async def run():
        client = await open_stream(voice_server)
        return client.call_sid, await closed_code(client)

    call_sid, code = asyncio.run(run())
    assert code == 1011
    [call] = _call(voice_server, call_sid)  # the session was closed: its record is finished
    assert call["outcome"] == "abandoned" and call["ended_at"]


def test_status_callback_before_the_stream_gives_one_record_with_a_masked_caller(voice_server):
    sid = "CA" + "b" * 32
    assert status(voice_server, sid, "ringing", From="+14155550123").status_code == 204

    async def run():
        client = await open_stream(voice_server, call_sid=sid, caller="+14155550123")
        await asyncio.sleep(0.3)
        await client.stop()

    asyncio.run(run())
    assert status(voice_server, sid, "completed", CallDuration="7", From="+14155550123").status_code == 204
    [call] = _call(voice_server, sid)
    assert call["id"].startswith("tw-") and call["outcome"] == "abandoned"
    assert call["provider_status"] == "completed" and call["duration_s"] == 7
    assert call["caller"] == "[SĐT ***23]"


def test_line_noise_gives_no_text_and_no_answer(voice_server):
    """Noise and hum above the energy floor: webrtcvad opens turns, Whisper hears them, nobody spoke."""
    from scipy.signal import butter, sosfilt

    rng = np.random.default_rng(3)  # Whisper base repeats "CĐĐĐ…" on it, with no_speech 0.88
    n, t = 8000 * 3, np.arange(8000 * 3) / 8000
    rumble = sosfilt(butter(4, [300, 1000], btype="band", fs=8000, output="sos"), rng.normal(0, 1, n))
    noise = rumble / np.sqrt(np.mean(rumble ** 2)) * 600 + 300 * np.sin(2 * np.pi * 50 * t)
    pcm = np.concatenate([np.clip(noise, -32768, 32767).astype(np.int16), np.zeros(8000 * 2, np.int16)])
    assert np.sqrt(np.mean(pcm[:n].astype(float) ** 2)) > 5 * 120  # well above the energy floor

    async def run():
        client = await open_stream(voice_server)
        await asyncio.sleep(0.2)
        for i in range(0, len(pcm), 160):
            await client.send_audio(mulaw_encode(pcm[i:i + 160]))
            await asyncio.sleep(0.005)
        await asyncio.sleep(3)  # the turn ends, Whisper decodes it, the call replies
        await client.stop()
        return client

    client = asyncio.run(run())
    [call] = _call(voice_server, client.call_sid)
    speech = [t for t in call["turns"] if t["kind"] == "speech"]
    assert speech, "the noise never reached Whisper: the test does not test it"
    for turn in speech:
        assert turn["transcript"] == "" and turn["timings"]["stt_ms"] > 0
        assert turn["entry_id"] is None and turn["outcome"] in ("not_understood", "menu")
    assert call["outcome"] == "abandoned"


def test_clear_stops_an_answer_being_sent_over_a_real_websocket():
    """TwilioTransport: a clear during a long send goes out after the last frame sent, and no frame
    of that audio follows it."""
    app = FastAPI()
    answer = mulaw_encode((np.sin(np.arange(8000 * 60) / 3) * 8000).astype(np.int16))  # 60 s: 3,000 frames

    @app.websocket("/ws")
    async def endpoint(websocket: WebSocket):
        await websocket.accept()
        transport = TwilioTransport(websocket, "MZ1", "CA1", None)
        sending = asyncio.create_task(transport.send_audio(answer))
        text = await websocket.receive_text()  # the caller barges in
        assert text == "barge-in"
        await transport.clear_audio()
        await sending
        await transport.send_audio(answer[:1600])  # the next prompt still goes out
        await websocket.send_text(json.dumps({"event": "done"}))
        await websocket.close()

    server = LocalServer(app)
    try:
        async def run():
            from websockets.asyncio.client import connect

            events = []
            async with connect(server.url.replace("http", "ws") + "/ws") as ws:
                async for text in ws:
                    events.append(json.loads(text)["event"])
                    if len(events) == 1:
                        await ws.send("barge-in")
            return events

        events = asyncio.run(asyncio.wait_for(run(), 60))
    finally:
        server.stop()
    clear = events.index("clear")
    assert 0 < clear < 3000 and events[-1] == "done"
    assert events[clear + 1:-1] == ["media"] * 10  # only the next prompt's frames after the clear


def test_transfer_gives_up_when_the_api_hangs(voice_server, monkeypatch):
    monkeypatch.setattr(transfer, "HTTP_TIMEOUT_S", 1.0)
    hung = socket.socket()
    hung.bind(("127.0.0.1", 0))
    hung.listen(4)  # accepts connections, never answers
    held: list[socket.socket] = []
    threading.Thread(target=lambda: held.append(hung.accept()[0]), daemon=True).start()
    settings = voice_server.settings.model_copy(
        update={"twilio_api_base_url": f"http://127.0.0.1:{hung.getsockname()[1]}"})
    try:
        assert transfer.rest_client(settings).http_client.timeout == 1.0
        started = time.monotonic()
        assert transfer.transfer_call(settings, "CA" + "c" * 32, "+842400000113") is False
        assert time.monotonic() - started < 5
    finally:
        for s in held:
            s.close()
        hung.close()
