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
from typing import TYPE_CHECKING, Any

import pjsua2 as pj

from voice.sip.media import BridgePort, OutBuffer, items

if TYPE_CHECKING:
    from voice.sip.agent import SipAgent

log = logging.getLogger("voice.sip")

#: a caller frame louder than this (16-bit RMS) counts as speech for the latency figure only
SPEECH_RMS = 500.0


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
        self._on_pjsip(lambda call: call.transfer(target))

    def hangup(self) -> None:
        self._on_pjsip(lambda call: call.hangup_now())

    @property
    def pending_ms(self) -> int:
        return self.out.pending_ms


class Route:
    """The loop-side half of a call: its handler and nothing from PJSIP.

    Only this crosses to the asyncio loop, so a ``pj.Call`` is never the last reference dropped (and its
    C++ destructor run) on a thread PJSIP does not know.
    """

    __slots__ = ("handler", "opened")

    def __init__(self) -> None:
        self.handler: Any = None
        self.opened = False


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
        ref = weakref.ref(self)
        self.out = OutBuffer(on_mark=lambda name: _mark_reached(ref, name))
        self.port: BridgePort | None = None
        self.route = Route()
        self.info: SipCallInfo | None = None
        self.confirmed = False
        self.counted = False  # counts towards calls_active
        self.ended = False
        self.ended_at = 0.0
        self._aud: pj.AudioMedia | None = None
        #: answer latency bookkeeping: end of caller speech → first answer frame after it
        self.last_speech_at: float | None = None
        self.last_tx_start_at = 0.0
        self.latencies_ms: list[float] = []

    # ----------------------------------------------------------------------------------- PJSIP thread
    def describe(self) -> SipCallInfo:
        ci = self.getInfo()
        self.info = SipCallInfo(call_id=ci.callIdString, remote_uri=ci.remoteUri, local_uri=ci.localUri,
                                source=self.source)
        return self.info

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

    def transfer(self, target: str | None) -> None:
        target = target or self.agent.options.transfer_uri
        if not target:
            log.warning("transfer asked but no target is configured (ASSISTANT_SIP_TRANSFER_URI)")
            return
        if self.ended:
            return
        if self.agent.options.transfer_mode == "bridge":
            self.agent.bridge(self, target)
            return
        log.info("REFER to %s", target)
        try:
            self.xfer(target, pj.CallOpParam(True))
        except pj.Error as exc:
            log.warning("REFER failed: %s", exc.info())

    def onCallState(self, prm: pj.OnCallStateParam) -> None:
        ci = self.getInfo()
        if ci.state == pj.PJSIP_INV_STATE_CONFIRMED and not self.confirmed:
            self.confirmed = True
            self.agent.call_confirmed(self)
        elif ci.state == pj.PJSIP_INV_STATE_DISCONNECTED and not self.ended:
            self.ended = True
            log.info("call %s ended: %s %s", ci.callIdString[:12], ci.lastStatusCode, ci.lastReason)
            self.agent.call_ended(self, ci.lastStatusCode)

    def onCallMediaState(self, prm: pj.OnCallMediaStateParam) -> None:
        ci = self.getInfo()
        for i, mi in enumerate(items(ci.media)):
            if mi.type != pj.PJMEDIA_TYPE_AUDIO or mi.status != pj.PJSUA_CALL_MEDIA_ACTIVE:
                continue
            aud = self.getAudioMedia(i)
            self._aud = aud
            if self.bridge_of is not None:  # outgoing leg of a bridge: join the caller's audio
                self.agent.join(self.bridge_of, self)
            elif self.joined and self.bridge_leg is not None:  # re-INVITE of a bridged caller
                self.agent.join(self, self.bridge_leg)
            else:
                self._connect_port(aud)
            return

    def _connect_port(self, aud: pj.AudioMedia) -> None:
        if self.port is None:
            self.port = BridgePort(self.out, self._caller_audio)
            ref = weakref.ref(self)
            self.out.on_first_audio = lambda: _first_tx(ref)
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
        log.info("DTMF %s (%s)", prm.digit, method)
        self.agent.to_core(self, "dtmf", prm.digit)

    def onCallTransferStatus(self, prm: pj.OnCallTransferStatusParam) -> None:
        log.info("transfer status %s %s (final=%s)", prm.statusCode, prm.reason, prm.finalNotify)
        if prm.finalNotify or prm.statusCode >= 200:
            if 200 <= prm.statusCode < 300:
                prm.cont = False
                self.agent.call_transferred(self)
                self.hangup_now()
            elif prm.statusCode >= 300:
                prm.cont = False
                self.agent.to_core(self, "transfer_failed", prm.statusCode)

    # ---------------------------------------------------------------------------- media clock thread
    def _caller_audio(self, ulaw: bytes, rms: float) -> None:
        if rms >= SPEECH_RMS:
            self.last_speech_at = time.monotonic()
        self.agent.to_core(self, "audio", ulaw)

    def release(self) -> None:
        """Break every reference cycle (PJSIP thread, after the call ended and its port was disconnected)."""
        self.port = None
        self.out.on_first_audio = None
        self.out.on_mark = None
        self.bridge_of = self.bridge_leg = None
        self._aud = None


def _first_tx(ref: weakref.ref[SipCall]) -> None:
    """Audio starts after silence: if the caller spoke since the last answer, that is a turn's latency."""
    call = ref()
    if call is None:
        return
    now = time.monotonic()
    if call.last_speech_at is not None and call.last_speech_at > call.last_tx_start_at:
        call.latencies_ms.append((now - call.last_speech_at) * 1000)
    call.last_tx_start_at = now


def _mark_reached(ref: weakref.ref[SipCall], name: str) -> None:
    call = ref()
    if call is not None:
        call.agent.to_core(call, "mark", name)
