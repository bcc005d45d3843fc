"""Helpers of the whole-call tests: signed webhooks, Media Streams clients, the call list."""

from __future__ import annotations

import asyncio
import os

import httpx

from voice.call_sim import MediaStreamClient, signed_post, stream_from_twiml


def incoming(server, call_sid="CA" + "2" * 32, caller="+84912345678", **kw):
    s = server.settings
    return signed_post(None, server.url, s.public_url, s.twilio_auth_token, "/voice/twilio/incoming",
                       {"CallSid": call_sid, "From": caller, "To": "+842400000000"}, **kw)


def status(server, call_sid, call_status, **fields):
    s = server.settings
    return signed_post(None, server.url, s.public_url, s.twilio_auth_token, "/voice/twilio/status",
                       {"CallSid": call_sid, "CallStatus": call_status, **fields})


def ws_url(server):
    return server.url.replace("http", "ws") + "/voice/twilio/stream"


def calls(server):
    r = httpx.get(server.url + "/voice/calls", headers={"Authorization": f"Bearer {server.settings.calls_token}"})
    assert r.status_code == 200, r.text
    return r.json()["calls"]


async def open_stream(server, token_params=None, call_sid=None, caller="+84912345678"):
    call_sid = call_sid or "CA" + os.urandom(16).hex()
    if token_params is None:
        _, token_params = stream_from_twiml(incoming(server, call_sid, caller).text)
    client = MediaStreamClient(ws_url(server), call_sid=call_sid, playback_rate=0)
    await client.connect(token_params)
    return client


async def closed_code(client, timeout=10):
    await asyncio.wait_for(client.closed.wait(), timeout)
    return client.close_code
