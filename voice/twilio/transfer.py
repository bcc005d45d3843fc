"""Hand a live call to a human: update it through Twilio's REST API with TwiML ``<Dial>``.

``ASSISTANT_TRANSFER_TARGET`` is a phone number (``+84…``) or a SIP URI (``sip:…``).
``ASSISTANT_TWILIO_API_BASE_URL`` points the client elsewhere (tests use a fake API on loopback).
"""

from __future__ import annotations

import logging

from twilio.base.exceptions import TwilioException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client
from twilio.twiml.voice_response import Dial, VoiceResponse

from assistant.config import Settings

log = logging.getLogger("assistant.voice.twilio")
HTTP_TIMEOUT_S = 10.0  # a hung API must not keep the caller waiting for ever ("please hold")


def dial_twiml(target: str) -> str:
    response = VoiceResponse()
    dial = Dial(answer_on_bridge=True)
    if target.startswith("sip:") or target.startswith("sips:"):
        dial.sip(target)
    else:
        dial.number(target)
    response.append(dial)
    return str(response)


def rest_client(settings: Settings) -> Client:
    if not settings.twilio_account_sid or not settings.twilio_auth_token:
        raise ValueError("ASSISTANT_TWILIO_ACCOUNT_SID and ASSISTANT_TWILIO_AUTH_TOKEN are needed to transfer calls")
    client = Client(settings.twilio_account_sid, settings.twilio_auth_token,
                    http_client=TwilioHttpClient(timeout=HTTP_TIMEOUT_S))
    if settings.twilio_api_base_url:
        client.api.base_url = settings.twilio_api_base_url.rstrip("/")
    return client


def transfer_call(settings: Settings, call_sid: str, target: str) -> bool:
    """Blocking: replace the call's TwiML with ``<Dial>`` to ``target``; True when Twilio accepted it."""
    try:
        rest_client(settings).calls(call_sid).update(twiml=dial_twiml(target))
        return True
    except (TwilioException, ValueError, OSError) as exc:
        log.warning("transfer of %s failed: %s", call_sid, exc)
        return False
