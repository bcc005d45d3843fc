"""One SIP call: PJSIP call callbacks (PJSIP thread) on one side, the call core (asyncio loop) on the other.

Thread rules: every ``pj.Call`` method runs on the agent's PJSIP thread (the transport posts them there
with :meth:`SipAgent.post`); every call-core method runs on the asyncio loop (posted with
``loop.call_soon_threadsafe``); audio crosses through :class:`~voice.sip.media.OutBuffer` (to the caller)
and ``call_soon_threadsafe`` (from the caller), 20 ms at a time.
"""

from __future__ import annotations

import logging
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pjsua2 as pj

from voice.sip.events import LoopEvents, Route
from voice.sip.media import BridgePort, LatencyMeter, OutBuffer, items
from voice.sip.redact import call_ref

if TYPE_CHECKING:
    from voice.sip.agent import SipAgent

log = logging.getLogger("voice.sip")


@dataclass
class SipCallInfo:
    """What the core may want to know about a SIP call (no personal data beyond the caller's URI)."""

    call_id: str
    remote_uri: str
    local_uri: str
    source: str
    started_at: float = field(default_factory=time.time)


class SipTransport:
    """The transport a call core drives for one SIP call. Safe to call from any thread.

    ``send_audio`` takes 8 kHz μ-law bytes (any length; played in 20 ms frames), ``clear`` drops what is
    queued (barge-in), ``mark`` asks for a callback when everything queued before it has been played,
    ``transfer`` sends the caller to a human (SIP REFER or a bridged call), ``hangup`` sends BYE.
    """

    def __init__(self, agent: SipAgent, call: SipCall):
        self._agent = agent
        self._call = weakref.ref(call)  # a core that outlives the call must not keep a pj.Call alive
        self.info = call.info
        self.out = call.out

    def _on_pjsip(self, fn: Callable[[SipCall], None]) -> None:
        def run() -> None:
            call = self._call()
            if call is not None and not call.ended:
                fn(call)
        self._agent.post(run)

    def send_audio(self, ulaw: bytes) -> None:
        self.out.push(ulaw)

    def clear(self) -> None:
        self.out.clear()

    def mark(self, name: str) -> None:
        self.out.mark(name)

    def transfer(self, target: str | None = None) -> None:
        self._on_pjsip(lambda call: call.agent.transfers.start(call, target))

    def cancel_transfer(self) -> None:
        """The core stopped waiting for the transfer: a bridge leg still ringing is hung up."""
        self._on_pjsip(lambda call: call.agent.transfers.cancel(call))

    def hangup(self) -> None:
        self._on_pjsip(lambda call: call.hangup_now())

    @property
    def pending_ms(self) -> int:
        return self.out.pending_ms


class SipCall(pj.Call):
    """An answered (or answering) incoming call, or the outgoing leg of a bridged transfer."""

    def __init__(self, agent: SipAgent, account: pj.Account, call_id: int = pj.PJSUA_INVALID_ID, *,
                 source: str = "", bridge_of: SipCall | None = None):
        super().__init__(account, call_id)
        self.agent = agent
        self.source = source
        self.bridge_of = bridge_of  # set on the outgoing leg of a bridge transfer
        self.bridge_leg: SipCall | None = None
        self.joined = False  # the caller's audio is bridged to the officer's leg
        self.refer: str | None = None  # REFER progress (voice.sip.transfer)
        # The callbacks the media clock and the loop call hold the route and the meter, never this call: a
        # strong reference made there could be the last one, and the C++ destructor must run on PJSIP's thread.
        self.route = route = Route()
        self.meter = meter = LatencyMeter()
        events = agent.events
        self.out = OutBuffer(on_mark=lambda name: events.send(route, "mark", name))
        self.out.on_first_audio = meter.first_audio
        self.port: BridgePort | None = None
        self.info: SipCallInfo | None = None
        self.confirmed = False
        self.counted = False  # counts towards calls_active
        self.ended = False
        self.ended_at = 0.0
        self._aud: pj.AudioMedia | None = None

    # ----------------------------------------------------------------------------------- PJSIP thread
    def describe(self) -> SipCallInfo:
        ci = self.getInfo()
        self.info = SipCallInfo(call_id=ci.callIdString, remote_uri=ci.remoteUri, local_uri=ci.localUri,
                                source=self.source)
        self.route.ref = call_ref(ci.callIdString)
        return self.info

    @property
    def latencies_ms(self) -> list[float]:
        return self.meter.latencies_ms

    def answer_code(self, code: int, reason: str = "", headers: dict[str, str] | None = None) -> None:
        prm = pj.CallOpParam(True)
        prm.statusCode = code
        if reason:
            prm.reason = reason
        for name, value in (headers or {}).items():
            h = pj.SipHeader()
            h.hName, h.hValue = name, value
            prm.txOption.headers.append(h)
        try:
            self.answer(prm)
        except pj.Error as exc:
            log.warning("answer %s failed: %s", code, exc.info())

    def hangup_now(self, code: int = 0) -> None:
        if self.ended:
            return
        prm = pj.CallOpParam()
        prm.statusCode = code
        try:
            self.hangup(prm)
        except pj.Error:
            pass

    def onCallState(self, prm: pj.OnCallStateParam) -> None:
        ci = self.getInfo()
        if ci.state == pj.PJSIP_INV_STATE_CONFIRMED and not self.confirmed:
            self.confirmed = True
            self.agent.call_confirmed(self)
        elif ci.state == pj.PJSIP_INV_STATE_DISCONNECTED and not self.ended:
            self.ended = True
            log.info("call %s ended: %s %s", self.route.ref or call_ref(ci.callIdString), ci.lastStatusCode,
                     ci.lastReason)
            self.agent.call_ended(self, ci.lastStatusCode)

    def onCallMediaState(self, prm: pj.OnCallMediaStateParam) -> None:
        ci = self.getInfo()
        for i, mi in enumerate(items(ci.media)):
            if mi.type != pj.PJMEDIA_TYPE_AUDIO or mi.status != pj.PJSUA_CALL_MEDIA_ACTIVE:
                continue
            aud = self.getAudioMedia(i)
            self._aud = aud
            if self.bridge_of is not None:  # outgoing leg of a bridge: join the caller's audio once answered
                self.agent.transfers.leg_ready(self)
            elif self.joined and self.bridge_leg is not None:  # re-INVITE of a bridged caller
                self.agent.transfers.join(self, self.bridge_leg)
            else:
                self._connect_port(aud)
            return

    def _connect_port(self, aud: pj.AudioMedia) -> None:
        if self.port is None:
            self.port = BridgePort(self.out, _CallerAudio(self.agent.events, self.route, self.meter))
            self.port.create(f"sip{self.getId()}")
        aud.startTransmit(self.port)
        self.port.startTransmit(aud)

    def disconnect_port(self) -> None:
        if self.port is not None and self._aud is not None:
            for a, b in ((self._aud, self.port), (self.port, self._aud)):
                try:
                    a.stopTransmit(b)
                except pj.Error:
                    pass

    def audio_media(self) -> pj.AudioMedia | None:
        return self._aud

    def onDtmfDigit(self, prm: pj.OnDtmfDigitParam) -> None:
        method = "info" if prm.method == pj.PJSUA_DTMF_METHOD_SIP_INFO else "rfc2833"
        log.debug("DTMF %s (%s)", prm.digit, method)  # digits may spell an ID number: never at INFO
        self.agent.to_core(self, "dtmf", prm.digit)

    def onCallTransferStatus(self, prm: pj.OnCallTransferStatusParam) -> None:
        self.agent.transfers.on_status(self, prm)

    def release(self) -> None:
        """Break every reference cycle (PJSIP thread, after the call ended and its port was disconnected)."""
        self.port = None
        self.out.on_first_audio = None
        self.out.on_mark = None
        self.bridge_of = self.bridge_leg = None
        self._aud = None


class _CallerAudio:
    """The bridge port's caller-audio callback (media clock thread): the meter and the route, not the call."""

    __slots__ = ("events", "route", "meter")

    def __init__(self, events: LoopEvents, route: Route, meter: LatencyMeter):
        self.events, self.route, self.meter = events, route, meter

    def __call__(self, ulaw: bytes, pcm: np.ndarray) -> None:
        self.meter.heard(pcm)
        self.events.send(self.route, "audio", ulaw)
