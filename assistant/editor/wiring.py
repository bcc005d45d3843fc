"""Hooks of the editor into the app (``assistant.api.main``): routes, UI, service, hot reload."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from assistant.editor import versions
from assistant.editor.hot_reload import follow_app

log = logging.getLogger("assistant.editor")
UI_DIR = Path(__file__).resolve().parent / "ui"
_service_lock = threading.Lock()


def install_editor(app: FastAPI, state) -> None:
    """The ``/api/v1/kb`` routes and the ``/editor`` page."""
    from assistant.editor import api, api_publishing

    state.editor = None
    state.follower = None
    app.include_router(api.router, prefix="/api/v1")
    app.include_router(api_publishing.router, prefix="/api/v1")
    app.mount("/editor/static", StaticFiles(directory=UI_DIR), name="editor-static")

    @app.get("/editor", include_in_schema=False)
    def editor_page() -> FileResponse:
        return FileResponse(UI_DIR / "index.html", headers={"Cache-Control": "no-cache"})


def before_engine_load(settings) -> None:
    """Finish or undo a publish a crash interrupted, before the engine reads ``knowledge_base/``."""
    try:
        versions.recover(settings)
    except Exception:  # noqa: BLE001 - never block start-up; the journal stays for the next try
        log.exception("could not recover an interrupted publish")


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
