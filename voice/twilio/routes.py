"""Twilio routes: incoming-call webhook (TwiML), Media Streams WebSocket, status callbacks, call records.

| route | |
|---|---|
| ``POST /voice/twilio/incoming`` | signed webhook → TwiML ``<Connect><Stream url="wss://PUBLIC/voice/twilio/stream">`` with a one-time ``token`` ``<Parameter>`` |
| ``WS /voice/twilio/stream`` | Media Streams (:mod:`voice.twilio.media_stream`) |
| ``POST /voice/twilio/status`` | signed status callback → recorded on the call |
| ``GET /voice/calls`` | call records, ``Authorization: Bearer ASSISTANT_CALLS_TOKEN`` |

Unsigned or forged webhooks get 403; with no ``ASSISTANT_TWILIO_AUTH_TOKEN``/``ASSISTANT_PUBLIC_URL`` the
Twilio routes answer 503 (not configured).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from contextlib import asynccontextmanager
from typing import Annotated
from urllib.parse import parse_qsl

from fastapi import APIRouter, Header, HTTPException, Query, Request, WebSocket
from fastapi.responses import Response
from twilio.twiml.voice_response import Connect, VoiceResponse

from voice.runtime import voice_runtime
from voice.twilio.media_stream import run_media_stream
from voice.twilio.security import StreamTokens, public_url_for, signature_ok

log = logging.getLogger("assistant.voice.twilio")


@asynccontextmanager
async def _warm_voice(app):
    """With Twilio configured, load Whisper and the prompts at start-up, not on the first call."""
    state = getattr(app.state, "assistant", None)
    if state is not None and state.settings.twilio_auth_token and state.settings.public_url:
        voice_runtime(app).start_loading()
    yield


router = APIRouter(tags=["voice"], lifespan=_warm_voice)
MAX_FORM_BYTES = 20_000


def _settings(request: Request):
    return request.app.state.assistant.settings


def _tokens(app) -> StreamTokens | None:
    settings = app.state.assistant.settings
    if not settings.twilio_auth_token:
        return None
    tokens = getattr(app.state, "twilio_tokens", None)
    if tokens is None:
        tokens = app.state.twilio_tokens = StreamTokens(settings.twilio_auth_token)
    return tokens


async def _signed_form(request: Request) -> dict[str, str]:
    """The webhook's form fields, after checking ``X-Twilio-Signature`` against the public URL."""
    settings = _settings(request)
    if not settings.twilio_auth_token or not settings.public_url:
        raise HTTPException(503, "Twilio chưa được cấu hình (ASSISTANT_TWILIO_AUTH_TOKEN, ASSISTANT_PUBLIC_URL).")
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise HTTPException(413, "Yêu cầu quá lớn.")
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        raise HTTPException(415, "Twilio gửi dạng application/x-www-form-urlencoded.")
    try:
        params = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False))
    except UnicodeDecodeError as exc:
        raise HTTPException(400, "Nội dung không phải UTF-8.") from exc
    url = public_url_for(settings.public_url, request.url.path, request.url.query)
    if not signature_ok(settings.twilio_auth_token, url, params, request.headers.get("X-Twilio-Signature")):
        log.warning("rejected a Twilio webhook with a bad or missing signature (%s)", request.url.path)
        raise HTTPException(403, "Chữ ký Twilio không hợp lệ.")
    return params


def _twiml(response: VoiceResponse) -> Response:
    return Response(str(response), media_type="application/xml")


@router.post("/voice/twilio/incoming", include_in_schema=True)
async def incoming(request: Request) -> Response:
    """A call came in: connect it to our Media Streams WebSocket with a one-time token."""
    params = await _signed_form(request)
    settings = _settings(request)
    call_sid = params.get("CallSid", "")
    if not call_sid:
        raise HTTPException(400, "Thiếu CallSid.")
    runtime = voice_runtime(request.app)
    runtime.start_loading()
    state = request.app.state.assistant
    if state.load_error:
        response = VoiceResponse()
        response.say("Xin lỗi, tổng đài đang gặp sự cố. Vui lòng gọi lại sau.", language="vi-VN")
        response.hangup()
        return _twiml(response)
    base = settings.public_url.rstrip("/")
    ws_base = "wss://" + base[len("https://"):] if base.startswith("https://") else "ws://" + base.split("://", 1)[-1]
    response = VoiceResponse()
    connect = Connect()
    stream = connect.stream(url=f"{ws_base}/voice/twilio/stream")
    stream.parameter(name="token", value=_tokens(request.app).issue(call_sid))
    if params.get("From"):
        stream.parameter(name="from", value=params["From"])
    response.append(connect)
    return _twiml(response)


@router.websocket("/voice/twilio/stream")
async def media_stream(websocket: WebSocket) -> None:
    await run_media_stream(websocket, voice_runtime(websocket.app), _tokens(websocket.app))


@router.post("/voice/twilio/status", status_code=204)
async def status_callback(request: Request) -> Response:
    """Twilio's call status callback (``CallStatus``, ``CallDuration``), recorded on the call."""
    params = await _signed_form(request)
    call_sid, status = params.get("CallSid"), params.get("CallStatus")
    if not call_sid or not status:
        raise HTTPException(400, "Thiếu CallSid hoặc CallStatus.")
    duration = params.get("CallDuration")
    await asyncio.to_thread(voice_runtime(request.app).store().record_status, call_sid, status,
                            duration_s=int(duration) if duration and duration.isdigit() else None,
                            caller=params.get("From"))
    return Response(status_code=204)


@router.get("/voice/calls")
async def list_calls(request: Request, authorization: Annotated[str | None, Header()] = None,
                     limit: Annotated[int, Query(ge=1, le=500)] = 50,
                     offset: Annotated[int, Query(ge=0)] = 0) -> dict:
    """Call records, newest first (texts masked). Needs ``Authorization: Bearer ASSISTANT_CALLS_TOKEN``."""
    token = _settings(request).calls_token
    if not token:
        raise HTTPException(403, "Chưa cấu hình ASSISTANT_CALLS_TOKEN: danh sách cuộc gọi bị tắt.")
    given = (authorization or "").removeprefix("Bearer ").strip()
    if not authorization or not secrets.compare_digest(given.encode(), token.encode()):
        raise HTTPException(401, "Cần mã truy cập hợp lệ.", headers={"WWW-Authenticate": "Bearer"})
    calls = await asyncio.to_thread(voice_runtime(request.app).store().list_calls, limit=limit, offset=offset)
    return {"calls": calls, "limit": limit, "offset": offset}
