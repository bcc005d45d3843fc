"""The SIP agent's handler for the shared call core (:class:`voice.call.CallSession`).

The agent delivers events from PJSIP's threads to the asyncio loop; :class:`CoreHandler` queues them
and feeds the session one at a time, in order (start, 20 ms frames, DTMF, marks, hang-up), so a
frame can never overtake the ``start`` that plays the greeting. :class:`SipCallTransport` is the
:class:`voice.call.CallTransport` the session drives.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

from voice.sip.call import SipTransport

log = logging.getLogger("voice.sip")
#: how long the core waits for a transfer's outcome (REFER: a final NOTIFY; bridge: the officer answering)
TRANSFER_TIMEOUT_S = 15.0


def sip_target(target: str | None, override: str | None) -> str | None:
    """The URI to REFER to: the SIP-specific target wins; a bare number becomes ``tel:``."""
    target = override or target
    if not target:
        return None
    return target if target.startswith(("sip:", "sips:", "tel:")) else f"tel:{target}"


class SipCallTransport:
    """:class:`voice.call.CallTransport` over one SIP call (coroutines, as the core expects)."""

    def __init__(self, sip: SipTransport, transfer_override: str | None = None):
        self.sip = sip
        self.transfer_override = transfer_override
        self._transfer: asyncio.Future[bool] | None = None

    async def send_audio(self, ulaw: bytes) -> None:
        self.sip.send_audio(ulaw)

    async def clear_audio(self) -> None:
        self.sip.clear()

    async def send_mark(self, name: str) -> None:
        self.sip.mark(name)

    async def transfer(self, target: str) -> bool:
        uri = sip_target(target, self.transfer_override)
        if uri is None:
            return False
        self._transfer = asyncio.get_running_loop().create_future()
        self.sip.transfer(uri)
        try:
            return await asyncio.wait_for(asyncio.shield(self._transfer), TRANSFER_TIMEOUT_S)
        except TimeoutError:
            log.warning("transfer: no outcome in %.0f s; the caller stays with the assistant", TRANSFER_TIMEOUT_S)
            self.sip.cancel_transfer()  # a bridge leg still ringing is hung up: no late connection
            return False
        finally:
            self._transfer = None

    def transfer_result(self, ok: bool) -> None:
        if self._transfer is not None and not self._transfer.done():
            self._transfer.set_result(ok)

    async def hangup(self) -> None:
        self.sip.hangup()


class CoreHandler:
    """Feeds one :class:`~voice.call.CallSession` with the agent's events, in order."""

    def __init__(self, services: Any, sip: SipTransport, transfer_override: str | None = None):
        from voice.call import CallSession

        self.transport = SipCallTransport(sip, transfer_override)
        info = sip.info
        self.session = CallSession(services, self.transport, call_id=f"sip-{uuid.uuid4().hex[:16]}", channel="sip",
                                   caller=info.remote_uri if info else None,
                                   external_id=info.call_id if info else None)
        self._events: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self._task = asyncio.create_task(self._run(), name=f"sip-call-{self.session.call_id}")

    def on_start(self) -> None:
        self._events.put_nowait(("start", None))

    def on_audio(self, ulaw: bytes) -> None:
        self._events.put_nowait(("audio", ulaw))

    def on_dtmf(self, digit: str) -> None:
        self._events.put_nowait(("dtmf", digit))

    def on_mark(self, name: str) -> None:
        self._events.put_nowait(("mark", name))

    def on_transferred(self) -> None:
        self.transport.transfer_result(True)

    def on_transfer_failed(self, code: int) -> None:
        log.warning("transfer failed (%s)", code)
        self.transport.transfer_result(False)

    def on_hangup(self) -> None:
        self.transport.transfer_result(False)
        self._events.put_nowait(("hangup", None))

    async def _run(self) -> None:
        s = self.session
        while True:
            kind, arg = await self._events.get()
            try:
                if kind == "audio":
                    await s.on_audio(arg)
                elif kind == "start":
                    await s.start()
                elif kind == "dtmf":
                    await s.on_dtmf(arg)
                elif kind == "mark":
                    await s.on_mark(arg)
                elif kind == "hangup":
                    await s.on_hangup()
                    return
            except Exception:  # noqa: BLE001 - one bad event must not end the call's handler
                log.exception("call %s: %s failed", s.call_id, kind)
