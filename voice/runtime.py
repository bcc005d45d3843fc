"""The voice loop inside the app: :class:`VoiceServices` built once, lazily, beside the chat engine.

``voice_runtime(app)`` returns the app's :class:`VoiceRuntime`. The first telephony request starts
loading (Whisper ~1 s, prompt audio from the cache) in a thread; WebSocket handlers ``await
runtime.services()``. Dialogue turns go through ``app.state.assistant.dialogue`` (Rasa when it is up,
retrieval otherwise), so voice and chat share one brain.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from concurrent.futures import Future
from typing import Any

from voice.call.services import VoiceServices

log = logging.getLogger("assistant.voice.runtime")


class VoiceRuntime:
    def __init__(self, app_state: Any):
        self.app_state = app_state
        self.settings = app_state.settings
        self._lock = threading.Lock()
        self._future: Future[VoiceServices] | None = None
        self._store = None

    def start_loading(self) -> Future[VoiceServices]:
        """The loading future; a failed (or cancelled) load is started again."""
        with self._lock:
            f = self._future
            if f is None or (f.done() and (f.cancelled() or f.exception() is not None)):
                self._future = Future()
                threading.Thread(target=self._load, args=(self._future,), name="voice-load", daemon=True).start()
            return self._future

    def _load(self, future: Future[VoiceServices]) -> None:
        if not future.set_running_or_notify_cancel():  # running futures cannot be cancelled by a waiter
            return
        try:
            self.app_state.loaded.wait(timeout=300)
            services = VoiceServices.load(self.settings, lambda: self.app_state.dialogue, self.store())
            future.set_result(services)
            log.info("voice loop ready")
        except Exception as exc:  # noqa: BLE001 - reported to the call, which apologises and hangs up
            log.exception("voice loop failed to load")
            future.set_exception(exc)

    async def services(self, timeout: float = 60.0) -> VoiceServices:
        """The loaded services; TimeoutError after ``timeout`` s (the load goes on for later calls).

        ``shield``: a waiter that times out (or whose call ends) must not cancel the shared load.
        """
        return await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(self.start_loading())), timeout)

    def store(self):
        """The call store (cheap: no model needed); the app's start-up ran the migrations."""
        with self._lock:
            if self._store is None:
                from assistant.store.call_store import CallStore

                self._store = CallStore(self.settings.db_url)
            return self._store

    def use(self, services: VoiceServices) -> None:
        """Use ready-made services (tests, benchmarks: one Whisper for many apps)."""
        with self._lock:
            self._future = Future()
            self._future.set_result(services)


def voice_runtime(app) -> VoiceRuntime:
    runtime = getattr(app.state, "voice", None)
    if runtime is None:
        runtime = app.state.voice = VoiceRuntime(app.state.assistant)
    return runtime
