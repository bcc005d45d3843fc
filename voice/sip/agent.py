"""The SIP agent: PJSIP (pjsua2) on a thread of its own, call cores on an asyncio loop.

PJSIP runs with ``threadCnt=0`` and ``mainThreadOnly=True``: every SIP callback happens on the agent's
thread, inside ``libHandleEvents``, between which the thread runs the commands other threads posted
(:meth:`SipAgent.post`) and its timers. Media runs on PJSIP's null sound device clock (``setNullDev``),
20 ms at a time; ``noVad`` keeps RTP flowing through silence. Only PCMU and PCMA are enabled.

For each answered call the agent asks ``handler_factory(transport)`` (on the loop) for a handler: an
object with any of ``on_start()``, ``on_audio(ulaw)``, ``on_dtmf(digit)``, ``on_mark(name)``,
``on_transferred()``, ``on_transfer_failed(code)``, ``on_hangup()`` (plain or async); :mod:`voice.sip.events`
delivers them. :mod:`voice.sip.core` adapts the shared call-session core to this; :mod:`voice.sip.transfer`
handles REFER and bridged transfers.

A full agent (``max_calls`` callers) refuses with ``503 Service Unavailable`` + ``Retry-After``, which
Kamailio's failure route treats as "try the next agent".
"""

from __future__ import annotations

import asyncio
import gc
import heapq
import itertools
import json
import logging
import queue
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

import pjsua2 as pj

from voice.sip.auth import AllowList, AuthResult, DigestAuth
from voice.sip.call import SipCall, SipTransport
from voice.sip.events import AgentStats, LoopEvents
from voice.sip.media import items
from voice.sip.options import PJSUA_MAX_CALLS, RETRY_AFTER_S, RTP_PORT_RANGE, SipOptions
from voice.sip.redact import mask_uri
from voice.sip.transfer import Transfers

log = logging.getLogger("voice.sip")

HandlerFactory = Callable[[SipTransport], Any]
#: an ended call's Python objects are released this long after its media port was disconnected
RELEASE_AFTER_S = 0.2
CODECS = {"PCMU/8000/1": 255, "PCMA/8000/1": 254}


class _Account(pj.Account):
    def __init__(self, agent: SipAgent):
        super().__init__()
        self.agent = agent

    def onIncomingCall(self, prm: pj.OnIncomingCallParam) -> None:
        self.agent.incoming(self, prm)

    def onRegState(self, prm: pj.OnRegStateParam) -> None:
        log.info("registration: %s %s", prm.code, prm.reason)


class _LogWriter(pj.LogWriter):
    def write(self, entry: pj.LogEntry) -> None:
        log.debug("pjsip: %s", entry.msg.rstrip())


class SipAgent:
    """Answers SIP calls on ``options.host:options.port`` (UDP and TCP) and hands them to call cores."""

    def __init__(self, options: SipOptions, handler_factory: HandlerFactory,
                 loop: asyncio.AbstractEventLoop | None = None):
        self.options = options
        self.events = LoopEvents(handler_factory, loop)
        self.transfers = Transfers(self)
        self.allow = AllowList(options.allow)
        self.digest = (DigestAuth(options.auth_user, options.auth_password, options.realm)
                       if options.auth_user and options.auth_password else None)
        self.stats = AgentStats()
        self.calls: dict[int, SipCall] = {}
        self._all_calls: weakref.WeakSet[SipCall] = weakref.WeakSet()
        self._commands: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._timers: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        self._graveyard: list[SipCall] = []  # ended calls, deleted on the next loop turn, not in their callback

    # ------------------------------------------------------------------------------- any thread
    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        return self.events.loop

    def start(self, timeout: float = 10.0) -> None:
        if self.events.loop is None:
            self.events.loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._run, name="pjsip", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError("SIP agent did not start in time")
        if self._error is not None:
            raise RuntimeError(f"SIP agent could not start: {self._error}") from self._error

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.error("the PJSIP thread did not finish in %.0f s (kill -USR1 dumps the threads)", timeout)

    def post(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` on the PJSIP thread."""
        self._commands.put(fn)

    def track(self, call: SipCall) -> None:
        """Remember ``call`` so that shutdown can release it even if something still refers to it."""
        self._all_calls.add(call)

    def later(self, delay_s: float, fn: Callable[[], None]) -> None:
        """Run ``fn`` on the PJSIP thread after ``delay_s`` (call only from that thread)."""
        heapq.heappush(self._timers, (time.monotonic() + delay_s, next(self._seq), fn))

    # ---------------------------------------------------------------------------- PJSIP thread
    def _run(self) -> None:
        try:
            self._init()
        except BaseException as exc:  # noqa: BLE001 - reported to start()
            self._error = RuntimeError(exc.info() if isinstance(exc, pj.Error) else str(exc))
            ep, self.ep = getattr(self, "ep", None), None
            if ep is not None:  # destroy on this (registered) thread: a GC on another thread would abort
                try:
                    ep.libDestroy()
                except Exception:
                    pass
                del ep
                gc.collect()
            self._ready.set()
            return
        self._ready.set()
        try:
            while not self._stop.is_set():
                self.ep.libHandleEvents(10)
                self._run_commands()
        finally:
            self._shutdown()

    def _run_commands(self) -> None:
        while True:
            try:
                fn = self._commands.get_nowait()
            except queue.Empty:
                break
            self._safely(fn)
        now = time.monotonic()
        while self._timers and self._timers[0][0] <= now:
            self._safely(heapq.heappop(self._timers)[2])
        if self._graveyard:
            due = [c for c in self._graveyard if now - c.ended_at >= RELEASE_AFTER_S]
            if due:
                self._graveyard = [c for c in self._graveyard if c not in due]
                for call in due:
                    call.release()
                del call, due

    @staticmethod
    def _safely(fn: Callable[[], None]) -> None:
        try:
            fn()
        except Exception:
            log.exception("SIP command failed")

    def _init(self) -> None:
        o = self.options
        self.ep = pj.Endpoint()
        self.ep.libCreate()
        cfg = pj.EpConfig()
        cfg.uaConfig.threadCnt = 0
        cfg.uaConfig.mainThreadOnly = True
        cfg.uaConfig.maxCalls = PJSUA_MAX_CALLS  # the build's ceiling: room for a bridge leg below it
        cfg.uaConfig.userAgent = "hoidap-sip"
        cfg.logConfig.level = o.pj_log_level
        cfg.logConfig.consoleLevel = o.pj_log_level
        self._writer = _LogWriter()
        cfg.logConfig.writer = self._writer
        cfg.medConfig.clockRate = 8000
        cfg.medConfig.sndClockRate = 8000
        cfg.medConfig.channelCount = 1
        cfg.medConfig.audioFramePtime = 20
        cfg.medConfig.ptime = 20
        cfg.medConfig.noVad = True
        cfg.medConfig.ecTailLen = 0
        self.ep.libInit(cfg)
        self.ep.audDevManager().setNullDev()
        tcfg = pj.TransportConfig()
        tcfg.port = o.port
        tcfg.boundAddress = o.host
        if o.public_host:
            tcfg.publicAddress = o.public_host
        self.ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, tcfg)
        self.ep.transportCreate(pj.PJSIP_TRANSPORT_TCP, tcfg)
        self.ep.libStart()
        for codec in items(self.ep.codecEnum2()):
            self.ep.codecSetPriority(codec.codecId, CODECS.get(codec.codecId, 0))
        acfg = pj.AccountConfig()
        user = o.reg_user or "hoidap"
        if o.registrar:
            acfg.idUri = f"sip:{user}@{o.registrar.split(':', 1)[-1].split(';')[0]}"
            acfg.regConfig.registrarUri = o.registrar
            if o.reg_password:
                acfg.sipConfig.authCreds.append(pj.AuthCredInfo("digest", "*", user, 0, o.reg_password))
        else:
            host = o.contact_host
            acfg.idUri = f"sip:{user}@{f'[{host}]' if ':' in host else host}:{o.port}"
            acfg.regConfig.registerOnAdd = False
        acfg.mediaConfig.transportConfig.port = o.rtp_port
        acfg.mediaConfig.transportConfig.portRange = RTP_PORT_RANGE
        acfg.mediaConfig.transportConfig.boundAddress = o.host
        if o.public_host:
            acfg.mediaConfig.transportConfig.publicAddress = o.public_host
        self.account = _Account(self)
        self.account.create(acfg, True)
        log.info("SIP agent on %s:%s (UDP, TCP), PCMU/PCMA, RTP from %s", o.host, o.port, o.rtp_port)

    def _shutdown(self) -> None:
        started = time.monotonic()
        try:
            self.ep.hangupAllCalls()
            end = time.monotonic() + 1.0
            while self.calls and time.monotonic() < end:
                self.ep.libHandleEvents(10)
                self._run_commands()
        except Exception:
            log.exception("hanging up calls at shutdown")
        for call in list(self.calls.values()) + self._graveyard:
            call.release()  # no Python reference to a media port may outlive the library
        self.calls.clear()
        self._graveyard.clear()
        self._timers.clear()
        gc.collect()
        for obj in list(self._all_calls):  # still referenced somewhere: leak it rather than abort at exit
            obj.release()
            obj.thisown = False
        gc.collect()
        try:
            self.account.shutdown()
        except Exception:
            pass
        self.account = None
        self.ep.libDestroy()
        self.ep = None
        log.info("SIP agent stopped in %.1f s", time.monotonic() - started)

    def incoming(self, account: pj.Account, prm: pj.OnIncomingCallParam) -> None:
        src = prm.rdata.srcAddress
        call = SipCall(self, account, prm.callId, source=src)
        self.track(call)
        self.calls[prm.callId] = call
        self.stats.calls_total += 1
        if not self.allow.allows(src):
            log.warning("call from %s refused: not in the allow-list", src)
            self._refuse(call, 403, "Forbidden")
            return
        if self.digest is not None:
            result = self.digest.check(prm.rdata.wholeMsg)
            if result is not AuthResult.OK:
                if result is AuthResult.STALE:
                    log.info("call from %s: stale or reused nonce, challenged again", src)
                self._refuse(call, 401, "Unauthorized",
                             {"WWW-Authenticate": self.digest.challenge(stale=result is AuthResult.STALE)})
                return
        if self.stats.calls_active >= self.options.max_calls:
            log.warning("call from %s refused (503): %s calls already", src, self.stats.calls_active)
            self._refuse(call, 503, "Service Unavailable", {"Retry-After": str(RETRY_AFTER_S)})
            return
        self.stats.calls_active += 1
        call.counted = True
        call.describe()
        log.info("incoming call %s from %s (%s)", call.route.ref, mask_uri(call.info.remote_uri), src)
        if self.options.ring_ms > 0:
            call.answer_code(180)
            self.later(self.options.ring_ms / 1000, lambda: self._answer(call))
        else:
            self._answer(call)

    def _refuse(self, call: SipCall, code: int, reason: str, headers: dict[str, str] | None = None) -> None:
        self.stats.calls_rejected += 1
        call.counted = False
        call.answer_code(code, reason, headers)

    def _answer(self, call: SipCall) -> None:
        if not call.ended:
            call.answer_code(200)

    def call_confirmed(self, call: SipCall) -> None:
        if call.bridge_of is not None:
            self.transfers.leg_ready(call)
            return
        if call.route.opened:
            return
        self.stats.calls_answered += 1
        call.route.opened = True
        self.events.open(call.route, SipTransport(self, call))

    def call_ended(self, call: SipCall, code: int) -> None:
        if call.counted:
            call.counted = False
            self.stats.calls_active -= 1
        self.stats.latencies_ms.extend(call.latencies_ms)
        if call.info is not None and call.confirmed:
            log.info("call summary %s", json.dumps({
                "call": call.route.ref, "status": code, "duration_s": round(time.time() - call.info.started_at, 2),
                "frames_played": call.out.frames_played, "unplayed_ms": call.out.pending_ms,
                "latencies_ms": [round(x) for x in call.latencies_ms]}))
        self.transfers.ended(call, code)
        if call.route.opened:
            self.to_core(call, "hangup")
        call.disconnect_port()
        call.ended_at = time.monotonic()
        self.calls = {k: v for k, v in self.calls.items() if v is not call}
        self._graveyard.append(call)

    def call_transferred(self, call: SipCall) -> None:
        self.stats.calls_transferred += 1
        self.to_core(call, "transferred")

    # ------------------------------------------------------------------ to the loop (any thread)
    def to_core(self, call: SipCall, kind: str, arg: Any = None) -> None:
        self.events.send(call.route, kind, arg)
