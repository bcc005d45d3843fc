"""The loop side of the SIP agent: call events from PJSIP's threads to the handlers on the asyncio loop.

Only a :class:`Route` (the handler of one call, nothing from PJSIP) and plain values cross to the loop, so a
``pj.Call`` is never the last reference dropped (and its C++ destructor run) on a thread PJSIP does not know.
Posting to a loop that is closed or closing is a no-op (a call ending at shutdown must not raise on the
media clock or the PJSIP thread).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("voice.sip")

#: answer latencies kept in :class:`AgentStats` (the most recent ones)
LATENCY_WINDOW = 1000


@dataclass
class AgentStats:
    calls_total: int = 0
    calls_answered: int = 0
    calls_rejected: int = 0
    calls_transferred: int = 0
    calls_active: int = 0
    latencies_ms: deque[float] = field(default_factory=lambda: deque(maxlen=LATENCY_WINDOW), repr=False)


class Route:
    """The loop-side half of a call: its handler and nothing from PJSIP."""

    __slots__ = ("handler", "opened", "ref")

    def __init__(self, ref: str = "") -> None:
        self.handler: Any = None
        self.opened = False
        self.ref = ref  # the call's log tag (voice.sip.redact.call_ref)


class LoopEvents:
    """Delivers ``start``, ``audio``, ``dtmf``, ``mark``, ``transferred``, ``transfer_failed`` and ``hangup`` to
    each call's handler (``handler_factory(transport)``, built on the loop when the call is confirmed)."""

    def __init__(self, handler_factory: Callable[[Any], Any], loop: asyncio.AbstractEventLoop | None = None):
        self.handler_factory = handler_factory
        self.loop = loop

    # ------------------------------------------------------------------------------- any thread
    def post(self, fn: Callable[..., None], *args: Any) -> bool:
        """``loop.call_soon_threadsafe(fn, *args)`` unless the loop is gone; whether it was posted."""
        loop = self.loop
        if loop is None or loop.is_closed():
            return False
        try:
            loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:  # closed between the check and the call
            return False
        return True

    def send(self, route: Route, kind: str, arg: Any = None) -> None:
        self.post(self._dispatch, route, kind, arg)

    def open(self, route: Route, transport: Any) -> None:
        self.post(self._open, route, transport)

    # ----------------------------------------------------------------------------- asyncio loop
    def _open(self, route: Route, transport: Any) -> None:
        if not route.opened:  # ended before the loop got here
            return
        try:
            route.handler = self.handler_factory(transport)
        except Exception:
            log.exception("could not open a call session; hanging up")
            transport.hangup()
            return
        self._dispatch(route, "start", None)

    def _dispatch(self, route: Route, kind: str, arg: Any) -> None:
        handler = route.handler
        if handler is None:
            return
        method = getattr(handler, f"on_{kind}", None)
        if method is not None:
            try:
                result = method() if arg is None else method(arg)
                if inspect.isawaitable(result):
                    task = asyncio.ensure_future(result)
                    task.add_done_callback(_log_task_error)
            except Exception:
                log.exception("call session failed on %s", kind)
        if kind == "hangup":
            route.handler = None
            route.opened = False


def _log_task_error(task: asyncio.Future) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("call session task failed", exc_info=task.exception())
