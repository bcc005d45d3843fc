"""Hooks of the editor into the app (``assistant.api.main``): routes, UI, service, hot reload, start-up."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from assistant.editor import locking, versions
from assistant.editor.auth import check_configured
from assistant.editor.hot_reload import follow_app, load_version
from assistant.qa.index_build import current_version

log = logging.getLogger("assistant.editor")
UI_DIR = Path(__file__).resolve().parent / "ui"
_service_lock = threading.Lock()
#: How long a starting worker waits for another process's publish to get past its pointer switch.
SWITCH_WAIT_S = 30.0


def install_editor(app: FastAPI, state) -> None:
    """The ``/api/v1/kb`` routes and the ``/editor`` page. Reads the configured tokens now, so a bad one
    (shorter than 16 characters, unknown role, unreadable file) stops start-up with a clear
    :class:`~assistant.editor.auth.TokenConfigError` instead of a 500 on the first editor request."""
    from assistant.editor import api, api_publishing

    check_configured(state.settings)
    state.editor = None
    state.follower = None
    app.include_router(api.router, prefix="/api/v1")
    app.include_router(api_publishing.router, prefix="/api/v1")
    app.mount("/editor/static", StaticFiles(directory=UI_DIR), name="editor-static")

    @app.get("/editor", include_in_schema=False)
    def editor_page() -> FileResponse:
        return FileResponse(UI_DIR / "index.html", headers={"Cache-Control": "no-cache"})


def settle(settings, wait_s: float = SWITCH_WAIT_S) -> bool:
    """Make ``knowledge_base/`` safe to read: recover an interrupted publish while holding the publish
    lock; while another process holds it and has journaled (it is rewriting ``knowledge_base/`` right
    now), wait up to ``wait_s`` for it to switch. False when it did not within that time."""
    deadline = time.monotonic() + wait_s
    while True:
        if not versions.journal_path(settings).exists():
            return True  # nothing to recover, and no publish is rewriting knowledge_base/ right now
        with locking.held_if_free(settings) as got:
            if got:
                versions.recover_locked(settings)
                return True
        if time.monotonic() >= deadline:
            log.warning("a publish in another process is still switching after %.0f s", wait_s)
            return False
        time.sleep(0.1)


def load_engine(settings, *, log=None):
    """The engine a starting process should serve: the version ``CURRENT`` names.

    Publish lock free: recover, then :meth:`QAEngine.load` (``knowledge_base/``; rebuilt when edited by
    hand) while holding the lock, so no publish rewrites ``knowledge_base/`` under it. A publish or
    rollback running in another process: load the version ``CURRENT`` names from its snapshot; the
    half-written ``knowledge_base/`` is never read, nothing is built and ``CURRENT`` never moved (the
    hot-reload follower then picks up the new version when the pointer switches).
    """
    from assistant.qa.engine import QAEngine

    fd = locking.try_acquire(settings)
    if fd is not None:
        try:
            versions.recover_locked(settings)
            return QAEngine.load(settings, log=log)
        finally:
            locking.release(fd)
    version = current_version(settings.index_path)
    if version is None or versions.version_meta(settings, version) is None:
        settle(settings)  # never published through the editor: knowledge_base/ is all there is
        return QAEngine.load(settings, log=log)
    from assistant.qa.embedder import Embedder, resolve_model_path

    embedder = Embedder(resolve_model_path(settings.embedding_model, settings.models_path, provision=False),
                        prefix=settings.query_prefix, threads=settings.torch_threads)
    engine = load_version(settings, version, embedder)
    embedder.warm_up()
    return engine


def start_editor(state) -> None:
    """Once the engine is loaded: follow ``data/index/CURRENT`` (other workers' publishes)."""
    if getattr(state, "follower", None) is None and state.engine is not None:
        follow_app(state)


def service_for(state):
    """The app's :class:`EditorService`, made on first use (on the app's database)."""
    if getattr(state, "editor", None) is None:
        with _service_lock:
            if getattr(state, "editor", None) is None:
                from assistant.editor.editor_store import EditorStore
                from assistant.editor.service import EditorService

                store = EditorStore(state.settings.db_url)
                store.migrate()

                def on_live(version: str) -> None:
                    if getattr(state, "follower", None) is not None:
                        state.follower.switch_to(version)

                state.editor = EditorService(state.settings, store, embedder=lambda: state.engine.embedder,
                                             on_live=on_live)
    return state.editor
