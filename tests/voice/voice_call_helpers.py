"""Helpers of the call-core tests: a scripted recogniser, a fake transport, a recording WebSocket.

The call core runs for real (state machine, dialogue, audio cache, call store); only the recogniser
(chosen texts, so each conversation path is exercised exactly) and the network are stood in for.
"""

from __future__ import annotations

import asyncio
import json
import time

from starlette.websockets import WebSocketState

from voice.call import CallState


class ScriptedSTT:
    """Returns ``self.text`` for every utterance (what STTWorker uses of voice.stt.WhisperSTT)."""

    def __init__(self):
        self.text = ""
        self.confidence = 0.95
        self.delay = 0.0  # seconds each decode takes (a busy model)
        self.calls = 0

    def transcribe_batch(self, utterances):
        from voice.stt import Transcript

        self.calls += 1
        if self.delay:
            time.sleep(self.delay)
        return [Transcript(self.text, self.confidence, 0.0, len(p) / 16000, 0.01) for p in utterances]


class FakeTransport:
    """Records what the call core sends; echoes marks (as Twilio does) unless ``echo_marks`` is False."""

    def __init__(self, echo_marks: bool = True, send_s: float = 0.0):
        self.echo_marks = echo_marks
        self.send_s = send_s  # each send_audio takes this long (a slow network)
        self.mark_delay = 0.01  # how long after send_mark the mark comes back (the audio "plays")
        self.session = None
        self.audio: list[bytes] = []
        self.events: list[tuple] = []
        self.transfers: list[str] = []
        self.states_after_send: list[CallState] = []
        self.hung_up = False

    async def send_audio(self, ulaw):
        self.audio.append(ulaw)
        self.events.append(("audio", ulaw, time.monotonic()))
        if self.send_s:
            await asyncio.sleep(self.send_s)
            self.states_after_send.append(self.session.state)

    async def clear_audio(self):
        self.events.append(("clear",))

    async def send_mark(self, name):
        self.events.append(("mark", name))
        if self.echo_marks:
            asyncio.get_running_loop().call_later(self.mark_delay,
                                                  lambda: asyncio.ensure_future(self.session.on_mark(name)))

    async def transfer(self, target):
        self.transfers.append(target)
        return True

    async def hangup(self):
        self.hung_up = True


class RecordingWebSocket:
    """What :class:`voice.twilio.media_stream.TwilioTransport` needs of a WebSocket; every message sent
    is kept, and each send takes ``send_s`` (a slow link, so a long answer takes a while to go out)."""

    def __init__(self, send_s: float = 0.002):
        self.client_state = WebSocketState.CONNECTED
        self.send_s = send_s
        self.sent: list[dict] = []

    async def send_text(self, text: str) -> None:
        self.sent.append(json.loads(text))
        await asyncio.sleep(self.send_s)

    async def close(self, code: int = 1000) -> None:
        self.client_state = WebSocketState.DISCONNECTED

    def events(self) -> list[str]:
        return [m["event"] for m in self.sent]


async def speak(session, frames):
    for f in frames:
        await session.on_audio(f)
        await asyncio.sleep(0)


async def until(predicate, timeout=15.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the call")
        await asyncio.sleep(0.02)


async def greeted(session):
    await session.start()
    await until(lambda: session.state is CallState.LISTENING)


async def say(session, stt, text, frames):
    stt.text = text
    await speak(session, frames)


def said(session, text):
    """The audio the call plays for ``text`` (from the cache)."""
    return session.services.audio.speak(text)
