"""Every process serves the version ``data/index/CURRENT`` names, swapping engines without a restart.

:class:`IndexFollower` checks the pointer (a ``stat``; the file is read only when it changed) every
``editor_follow_interval_s`` in a daemon thread, loads the new version in that thread while the old
engine keeps answering, then hands it to a swap callback. The swap is one reference assignment per
holder, so a request in flight finishes on the engine it started with and the next one gets the new
engine; nothing is ever unavailable. The embedding model is shared between versions (only the
corpus and the index files are loaded), which keeps a swap to about a second and some 50-60 MB while
both versions are held (evaluation/reports/publish.md: 1,028 → 1,085 MB).

Used by the app (:func:`follow_app`, swapping ``AppState.engine`` and the dialogue's retrieval
engine) and by the Rasa action server (``assistant.dialogue.rasa_actions.get_engine``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from assistant.editor.versions import META, snapshot_dir
from assistant.kb.loader import load_corpus
from assistant.qa.index_build import CURRENT, current_version

log = logging.getLogger("assistant.editor.hot_reload")


def load_version(settings, version: str, embedder) -> Any:
    """An engine for ``version``: its snapshot corpus (or ``knowledge_base/``) and its index folder."""
    from assistant.qa.engine import QAEngine

    snap = snapshot_dir(settings, version)
    corpus = load_corpus(snap if (snap / META).exists() else settings.kb_dir)
    if not version.startswith(corpus.version + "-"):
        raise RuntimeError(f"kho tri thức {corpus.version} không khớp phiên bản {version}")
    return QAEngine(corpus, embedder, settings.index_path / version, max_chars=settings.max_question_chars)


class IndexFollower:
    """Keeps ``get_engine()`` on the version ``CURRENT`` names, via ``set_engine``."""

    def __init__(self, settings, get_engine: Callable[[], Any], set_engine: Callable[[Any], None],
                 *, interval: float | None = None):
        self.settings = settings
        self.get_engine = get_engine
        self.set_engine = set_engine
        self.interval = settings.editor_follow_interval_s if interval is None else interval
        self._switch = threading.Lock()
        self._stop = threading.Event()
        self._seen: tuple[int, int, int] | None = None
        self._thread: threading.Thread | None = None
        self.last_swap: dict[str, Any] | None = None

    def _pointer_stat(self) -> tuple[int, int, int] | None:
        try:
            st = (self.settings.index_path / CURRENT).stat()
        except FileNotFoundError:
            return None
        return st.st_ino, st.st_mtime_ns, st.st_size

    def check(self) -> bool:
        """Switch when the pointer names another version; True when a switch happened."""
        seen = self._pointer_stat()
        if seen is None or seen == self._seen:
            return False
        version = current_version(self.settings.index_path)
        engine = self.get_engine()
        if version is None or engine is None or version == engine.version:
            self._seen = seen
            return False
        self.switch_to(version)
        self._seen = seen
        return True

    def switch_to(self, version: str) -> Any:
        """Load ``version`` (old engine still serving) and swap it in; returns the engine now serving."""
        with self._switch:
            engine = self.get_engine()
            if engine is not None and engine.version == version:
                return engine
            started = time.perf_counter()
            new = load_version(self.settings, version, engine.embedder)
            loaded = time.perf_counter()
            self.set_engine(new)
            self.last_swap = {"version": version, "previous": engine.version if engine else None,
                              "load_s": round(loaded - started, 3), "at": time.time()}
            log.info("now serving %s (loaded in %.2f s, was %s)", version, loaded - started,
                     engine.version if engine else None)
            return new

    def start(self) -> IndexFollower:
        if self._thread is None:
            self._seen = None
            self._thread = threading.Thread(target=self._run, name="index-follower", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.check()
            except Exception:  # noqa: BLE001 - keep serving the old version, retry at the next tick
                log.exception("could not switch to the new index version")
                self._seen = None


def swap_app_engine(state, engine) -> None:
    """Point the app and its dialogue's retrieval side at ``engine`` (reference assignments)."""
    dialogue = state.dialogue
    retrieval = getattr(dialogue, "retrieval", dialogue)
    if retrieval is not None and hasattr(retrieval, "engine"):
        retrieval.engine = engine
    state.engine = engine


def follow_app(state) -> IndexFollower:
    """Start following ``CURRENT`` for the app's state (called once the engine is loaded)."""
    follower = IndexFollower(state.settings, lambda: state.engine, lambda e: swap_app_engine(state, e))
    state.follower = follower
    return follower.start()


def follow_process(settings, get_engine: Callable[[], Any], set_engine: Callable[[Any], None]) -> IndexFollower:
    """Start following ``CURRENT`` for a process-wide engine (the Rasa action server)."""
    return IndexFollower(settings, get_engine, set_engine).start()
