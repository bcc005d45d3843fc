"""Transfer to an officer (PJSIP thread): SIP REFER to the caller's side, or a bridged second call.

**REFER** (``transfer_mode = refer``). The REFER's ``202 Accepted`` only says the caller's side will try:
it is provisional. The outcome comes in NOTIFYs whose ``message/sipfrag`` body is the status of the
caller's new call: ``1xx`` → keep waiting; ``2xx`` → transferred (the core is told, then the agent hangs
up); ``3xx``–``6xx``, a NOTIFY ending the subscription without a final status, or a declined REFER → the
core is told it failed (it says so and keeps the caller). The core bounds the wait
(:data:`voice.sip.core.TRANSFER_TIMEOUT_S`) and then calls :meth:`Transfers.cancel`: a 2xx that comes after
that still ends this call (the caller's side is with the officer by then) but is not reported.

**Bridge** (``transfer_mode = bridge``). The agent calls the target itself; when that leg is answered
(confirmed, with active audio) the two calls' audio is joined in the conference bridge and the core is
told it worked; if the leg fails the core is told it failed. :meth:`Transfers.cancel` (the core gave up
waiting) hangs the leg up, so a late answer cannot connect a caller who was already told the transfer
failed. Once joined, either side hanging up ends the other.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import pjsua2 as pj

if TYPE_CHECKING:
    from voice.sip.agent import SipAgent
    from voice.sip.call import SipCall

log = logging.getLogger("voice.sip")

# REFER states of a call (SipCall.refer)
SENT, ACCEPTED, ABANDONED = "sent", "accepted", "abandoned"


class Transfers:
    def __init__(self, agent: SipAgent):
        self.agent = agent

    def start(self, call: SipCall, target: str | None) -> None:
        target = target or self.agent.options.transfer_uri
        if call.ended:
            return
        if not target:
            log.warning("transfer asked but no target is configured (ASSISTANT_SIP_TRANSFER_URI)")
            self.agent.to_core(call, "transfer_failed", 404)
            return
        if self.agent.options.transfer_mode == "bridge":
            self.bridge(call, target)
            return
        if call.refer in (SENT, ACCEPTED):
            return
        log.info("call %s: REFER to %s", call.route.ref, target)
        try:
            call.xfer(target, pj.CallOpParam(True))
        except pj.Error as exc:
            log.warning("REFER failed: %s", exc.info())
            self.agent.to_core(call, "transfer_failed", 500)
            return
        call.refer = SENT

    # ------------------------------------------------------------------------------------- REFER
    def on_status(self, call: SipCall, prm: pj.OnCallTransferStatusParam) -> None:
        """PJSIP's transfer progress: the REFER accepted, then each NOTIFY's sipfrag status."""
        code, final, state = prm.statusCode, prm.finalNotify, call.refer
        log.info("call %s: transfer status %s %s (final=%s)", call.route.ref, code, prm.reason, final)
        if state is None:  # no REFER of ours pending (already settled)
            prm.cont = False
            return
        # PJSIP 2.15 reports the REFER's 202 as "100 Accepted"; a declined REFER (4xx-6xx) or one that got no
        # answer comes here as a final status too
        if state == SENT and not final and code in (100, 202):  # REFER accepted: the outcome is still to come
            call.refer = ACCEPTED
            return
        if 200 <= code < 300:
            prm.cont = False
            call.refer = None
            if state == ABANDONED:
                log.info("call %s: transfer completed after the core gave up; ending the call", call.route.ref)
            else:
                self.agent.call_transferred(call)
            call.hangup_now()
        elif code >= 300 or final:
            prm.cont = False
            call.refer = None
            if state != ABANDONED:
                self.agent.to_core(call, "transfer_failed", code if code >= 300 else 487)

    def cancel(self, call: SipCall) -> None:
        """The core stopped waiting: forget a pending REFER, hang up a bridge leg that is not joined."""
        if call.refer in (SENT, ACCEPTED):
            call.refer = ABANDONED
        leg = call.bridge_leg
        if leg is not None and not call.joined and not leg.ended:
            log.info("call %s: the officer's line did not answer in time; hanging the leg up", call.route.ref)
            call.bridge_leg = None
            leg.hangup_now()

    # ------------------------------------------------------------------------------------ bridge
    def bridge(self, call: SipCall, target: str) -> None:
        """Dial ``target``; :meth:`join` follows when it answers."""
        from voice.sip.call import SipCall

        if call.bridge_leg is not None:
            return
        agent = self.agent
        leg = SipCall(agent, agent.account, bridge_of=call)
        agent.track(leg)
        call.bridge_leg = leg
        log.info("call %s: bridging to %s", call.route.ref, target)
        try:
            leg.makeCall(target, pj.CallOpParam(True))
        except pj.Error as exc:
            log.warning("bridge call to %s failed: %s", target, exc.info())
            call.bridge_leg = None
            agent.to_core(call, "transfer_failed", 500)
            return
        agent.calls[leg.getId()] = leg

    def leg_ready(self, leg: SipCall) -> None:
        """The leg is answered or its audio changed: join it to the caller once both hold."""
        caller = leg.bridge_of
        if caller is None or caller.ended or caller.bridge_leg is not leg:
            return  # cancelled, or the caller left: call_ended hangs the leg up
        if leg.confirmed and leg.audio_media() is not None:
            self.join(caller, leg)

    def join(self, call: SipCall, leg: SipCall) -> None:
        a, b = call.audio_media(), leg.audio_media()
        if a is None or b is None:
            return
        call.out.clear()
        call.disconnect_port()
        a.startTransmit(b)
        b.startTransmit(a)
        if not call.joined:  # (a re-INVITE of either leg calls this again: reconnect only)
            call.joined = True
            self.agent.call_transferred(call)

    def ended(self, call: SipCall, code: int) -> None:
        """``call`` ended: settle its bridge partner."""
        caller = call.bridge_of
        if caller is not None and not caller.ended and caller.bridge_leg is call:
            if caller.joined:  # the officer hung up: end the caller's side too
                caller.hangup_now()
            else:  # the officer's line never answered: the caller stays with the assistant
                caller.bridge_leg = None
                self.agent.to_core(caller, "transfer_failed", code)
        leg = call.bridge_leg
        if leg is not None and not leg.ended:
            leg.hangup_now()
