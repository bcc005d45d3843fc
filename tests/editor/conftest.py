"""Fixtures of the editor tests: a throw-away copy of the corpus and of the data folder.

The repository's ``knowledge_base/`` is never touched: each test copies it to ``tmp_path`` and points
``kb_dir``/``data_dir`` there. The embedding cache and the model are linked from the real ``data/``
(so an index build only embeds new texts), and the current index version is copied so the app
starts without building.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
from pathlib import Path

import pytest

from assistant.config import Settings, get_settings
from assistant.editor.versions import clone_workspace

EDITOR_TOKEN, PUBLISHER_TOKEN, ADMIN_TOKEN = "editor-token-0001", "publisher-token-0001", "admin-token-00001"
TOKENS = {EDITOR_TOKEN: "editor", PUBLISHER_TOKEN: "publisher", ADMIN_TOKEN: "admin"}
EDITOR = {"Authorization": f"Bearer {EDITOR_TOKEN}"}
PUBLISHER = {"Authorization": f"Bearer {PUBLISHER_TOKEN}"}
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def make_workspace(root: Path) -> Settings:
    """A corpus copy and a data folder under ``root``; settings pointing at them."""
    return clone_workspace(get_settings(), root, editor_tokens=TOKENS, rate_limit_per_minute=0,
                           editor_follow_interval_s=0.2)


@pytest.fixture
def workspace(tmp_path) -> Settings:
    return make_workspace(tmp_path)


# ---------------------------------------------------------------- publishing without an index build
FAKE_MODEL = "fake-model"


class FakeBuild:
    """Stands in for ``build_in_child``: an index folder with a ``meta.json`` (nothing loads it), after
    ``gate`` is set when there is one; raises ``error`` when set."""

    def __init__(self):
        self.calls, self.gate, self.error = 0, None, None

    def __call__(self, kb, out_root, cache_dir, embedder, *, timeout_s):
        self.calls += 1
        if self.gate is not None:
            assert self.gate.wait(60), "the test never opened the gate"
        if self.error is not None:
            raise self.error
        out = Path(out_root) / "built"
        out.mkdir(parents=True)
        (out / "meta.json").write_text("{}", encoding="utf-8")
        return out, 12.5


@pytest.fixture
def editor(workspace, monkeypatch):
    """A service on the workspace whose publishes 'build' with :class:`FakeBuild` (no engine, no model)."""
    from types import SimpleNamespace

    from assistant.editor import publishing
    from assistant.editor.editor_store import EditorStore
    from assistant.editor.service import EditorService

    build = FakeBuild()
    monkeypatch.setattr(publishing, "build_in_child", build)
    store = EditorStore(workspace.db_url)
    store.migrate()
    svc = EditorService(workspace, store, embedder=lambda: SimpleNamespace(model_id=FAKE_MODEL), prerender=False)
    svc.publisher.lock_wait_s = 0.2
    yield SimpleNamespace(settings=workspace, svc=svc, store=store, build=build)
    store.dispose()


def edit(svc, entry_id: str, actor, **changes):
    """Save a draft of ``entry_id`` with ``changes``, as the editor UI does (read, change, PUT with the version)."""
    from assistant.editor.entry_io import SERVER_FIELDS

    entry = svc.get_entry(entry_id)
    body = {k: v for k, v in entry.items() if k not in SERVER_FIELDS}
    body.update(changes)
    return svc.update(entry_id, body, entry["version"], actor)


@contextlib.contextmanager
def lock_held_elsewhere(settings):
    """Another process holds the publish lock (as a publish running in another worker) for the block."""
    from assistant.editor import locking

    code = ("import fcntl, os, sys; fd = os.open(sys.argv[1], os.O_CREAT | os.O_RDWR); "
            "fcntl.flock(fd, fcntl.LOCK_EX); print('held', flush=True); sys.stdin.read()")
    proc = subprocess.Popen([sys.executable, "-c", code, str(locking.lock_path(settings))], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        yield proc
    finally:
        proc.stdin.close()
        proc.wait(10)
