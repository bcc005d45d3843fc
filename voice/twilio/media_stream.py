"""Twilio Media Streams over a FastAPI WebSocket: parse caller messages, drive a :class:`CallSession`.

Caller → us (JSON text frames): ``connected``, ``start`` (streamSid, callSid, customParameters with
our one-time token, mediaFormat), ``media`` (base64 μ-law, 20 ms), ``dtmf``, ``mark`` (echo of ours),
``stop``. Us → Twilio: ``media``, ``mark``, ``clear`` (:class:`TwilioTransport`).

Anything malformed — not JSON, not an object, bad base64, a ``media`` before ``start``, a second
``start``, a message over :data:`MAX_MESSAGE_CHARS`, a payload over :data:`MAX_PAYLOAD_BYTES`, no ``start``
within :data:`START_TIMEOUT_S` — ends this call cleanly (recorded as abandoned, socket closed with
1008/1009); it never touches the server.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import uuid
from typing import Any

from fastapi import WebSocket
from starlette.websockets import WebSocketDisconnect, WebSocketState

from voice.audio.g711 import FRAME_BYTES
from voice.call.session import CallSession
from voice.twilio.security import StreamTokens
from voice.twilio.transfer import transfer_call

log = logging.getLogger("assistant.voice.twilio")
MAX_MESSAGE_CHARS = 16_384
MAX_PAYLOAD_BYTES = 4_000  # Twilio sends 160 bytes (20 ms); allow some slack, not megabytes
START_TIMEOUT_S = 10.0  # an unauthenticated socket waits this long for 'start', not for ever
POLICY_VIOLATION, TOO_BIG = 1008, 1009


class StreamProtocolError(ValueError):
    def __init__(self, message: str, code: int = POLICY_VIOLATION):
        super().__init__(message)
        self.code = code


class TwilioTransport:
    """:class:`~voice.call.transport.CallTransport` over one Media Streams WebSocket."""

    def __init__(self, websocket: WebSocket, stream_sid: str, call_sid: str, settings):
        self.ws = websocket
        self.stream_sid = stream_sid
        self.call_sid = call_sid
        self.settings = settings
        self.frames_sent = 0
        self._send_lock = asyncio.Lock()
        self._generation = 0  # bumped by clear_audio: audio queued before a clear is not sent after it
        self.closed = False

    async def _send(self, message: dict[str, Any]) -> None:
        if self.closed or self.ws.client_state is not WebSocketState.CONNECTED:
            return
        try:
            await self.ws.send_text(json.dumps(message))
        except (RuntimeError, WebSocketDisconnect, OSError):
            self.closed = True

    async def send_audio(self, ulaw: bytes) -> None:
        generation = self._generation
        async with self._send_lock:
            for i in range(0, len(ulaw), FRAME_BYTES):
                if self._generation != generation:  # a clear (barge-in) came while sending: stop here
                    return
                chunk = ulaw[i:i + FRAME_BYTES]
                await self._send({"event": "media", "streamSid": self.stream_sid,
                                  "media": {"payload": base64.b64encode(chunk).decode("ascii")}})
                self.frames_sent += 1
                if i % (FRAME_BYTES * 50) == 0:
                    await asyncio.sleep(0)  # let other calls run while a long answer goes out

    async def clear_audio(self) -> None:
        """Stop sending the audio in progress (at the next frame), then ``clear`` what Twilio has queued."""
        self._generation += 1
        async with self._send_lock:
            await self._send({"event": "clear", "streamSid": self.stream_sid})

    async def send_mark(self, name: str) -> None:
        async with self._send_lock:
            await self._send({"event": "mark", "streamSid": self.stream_sid, "mark": {"name": name}})

    async def transfer(self, target: str) -> bool:
        return await asyncio.to_thread(transfer_call, self.settings, self.call_sid, target)

    async def hangup(self) -> None:
        """Closing the stream ends ``<Connect>``; no TwiML follows it, so Twilio ends the call."""
        if not self.closed and self.ws.client_state is WebSocketState.CONNECTED:
            self.closed = True
            try:
                await self.ws.close(1000)
            except (RuntimeError, OSError, WebSocketDisconnect):
                pass


def _parse(text: str) -> dict[str, Any]:
    if len(text) > MAX_MESSAGE_CHARS:
        raise StreamProtocolError(f"message of {len(text)} characters is too big", TOO_BIG)
    try:
        message = json.loads(text)
    except ValueError as exc:
        raise StreamProtocolError("message is not JSON") from exc
    if not isinstance(message, dict) or not isinstance(message.get("event"), str):
        raise StreamProtocolError("message is not an object with an 'event'")
    return message


def _payload(message: dict[str, Any]) -> bytes | None:
    media = message.get("media")
    if not isinstance(media, dict) or not isinstance(media.get("payload"), str):
        raise StreamProtocolError("media without payload")
    if media.get("track", "inbound") not in ("inbound", "inbound_track"):
        return None
    if len(media["payload"]) > MAX_PAYLOAD_BYTES * 4 // 3 + 4:
        raise StreamProtocolError("media payload too big", TOO_BIG)
    try:
        return base64.b64decode(media["payload"], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise StreamProtocolError("media payload is not base64") from exc


async def run_media_stream(websocket: WebSocket, runtime, tokens: StreamTokens | None) -> None:
    """Serve one Media Streams connection until it stops, the call ends, or a message is malformed."""
    await websocket.accept()
    session: CallSession | None = None
    transport: TwilioTransport | None = None
    code = 1000
    start_deadline = asyncio.get_running_loop().time() + START_TIMEOUT_S
    try:
        while True:
            if session is not None and session.closed:
                break
            try:
                if session is None:
                    left = start_deadline - asyncio.get_running_loop().time()
                    text = await asyncio.wait_for(websocket.receive_text(), max(0.0, left))
                else:
                    text = await websocket.receive_text()
            except TimeoutError as exc:
                raise StreamProtocolError(f"no 'start' within {START_TIMEOUT_S:g} s") from exc
            except KeyError as exc:  # a binary frame: receive_text() finds no "text"
                raise StreamProtocolError("binary frames are not Media Streams messages") from exc
            message = _parse(text)
            event = message["event"]
            if event == "connected":
                if session is not None:
                    raise StreamProtocolError("'connected' after 'start'")
            elif event == "start":
                if session is not None:
                    raise StreamProtocolError("a second 'start'")
                session, transport = await _start(websocket, message, runtime, tokens)
            elif event in ("media", "dtmf", "mark", "stop") and session is None:
                raise StreamProtocolError(f"'{event}' before 'start'")
            elif event == "media":
                frame = _payload(message)
                if frame:
                    await session.on_audio(frame)
            elif event == "dtmf":
                digit = (message.get("dtmf") or {}).get("digit") if isinstance(message.get("dtmf"), dict) else None
                if not isinstance(digit, str) or len(digit) != 1 or digit not in "0123456789*#":
                    raise StreamProtocolError("dtmf without a valid digit")
                await session.on_dtmf(digit)
            elif event == "mark":
                name = message.get("mark", {}).get("name") if isinstance(message.get("mark"), dict) else None
                if isinstance(name, str):
                    await session.on_mark(name)
            elif event == "stop":
                break
    except StreamProtocolError as exc:
        code = exc.code
        log.warning("media stream %s closed: %s", transport.call_sid if transport else "(no call)", exc)
    except WebSocketDisconnect:
        pass
    except asyncio.CancelledError:
        raise
    except Exception:  # noqa: BLE001 - this call ends, the server does not
        if transport is None or not transport.closed:  # else: we hung up and the socket is gone
            code = 1011
            log.exception("media stream failed")
    finally:
        if session is not None:
            await session.on_hangup()
        if transport is not None:
            transport.closed = True
        if websocket.client_state is WebSocketState.CONNECTED:
            try:
                await websocket.close(code)
            except (RuntimeError, OSError, WebSocketDisconnect):
                pass


async def _start(websocket: WebSocket, message: dict[str, Any], runtime, tokens: StreamTokens | None):
    start = message.get("start")
    if not isinstance(start, dict):
        raise StreamProtocolError("'start' without details")
    stream_sid = start.get("streamSid") or message.get("streamSid")
    call_sid = start.get("callSid")
    params = start.get("customParameters") if isinstance(start.get("customParameters"), dict) else {}
    if tokens is None or not tokens.redeem(params.get("token"), call_sid):
        raise StreamProtocolError("stream without a valid one-time token")
    fmt = start.get("mediaFormat") or {}
    if isinstance(fmt, dict) and fmt and (fmt.get("encoding") != "audio/x-mulaw" or _rate(fmt) != 8000):
        raise StreamProtocolError(f"unsupported media format {str(fmt)[:200]}")
    if not isinstance(stream_sid, str) or not stream_sid:
        raise StreamProtocolError("'start' without streamSid")
    services = await runtime.services()
    transport = TwilioTransport(websocket, stream_sid, call_sid, services.settings)
    caller = params.get("from") if isinstance(params.get("from"), str) else None
    session = CallSession(services, transport, call_id=f"tw-{uuid.uuid4().hex[:20]}", channel="twilio",
                          caller=caller, external_id=call_sid)
    started = False
    try:
        await session.start()
        started = True
    finally:
        if not started:  # the watchdog may be running already: end the session, record the call
            await session.on_hangup()
    return session, transport


def _rate(fmt: dict[str, Any]) -> int | None:
    try:
        return int(fmt.get("sampleRate", 8000))
    except (TypeError, ValueError):
        return None
