"""Fixtures of the editor tests: a throw-away copy of the corpus and of the data folder.

The repository's ``knowledge_base/`` is never touched: each test copies it to ``tmp_path`` and points
``kb_dir``/``data_dir`` there. The embedding cache and the model are linked from the real ``data/``
(so an index build only embeds new texts), and the current index version is copied so the app
starts without building.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.config import Settings, get_settings
from assistant.editor.versions import clone_workspace

TOKENS = {"editor-token-1": "editor", "publisher-token-1": "publisher", "admin-token-1": "admin"}
EDITOR = {"Authorization": "Bearer editor-token-1"}
PUBLISHER = {"Authorization": "Bearer publisher-token-1"}
ADMIN = {"Authorization": "Bearer admin-token-1"}


def make_workspace(root: Path) -> Settings:
    """A corpus copy and a data folder under ``root``; settings pointing at them."""
    return clone_workspace(get_settings(), root, editor_tokens=TOKENS, rate_limit_per_minute=0,
                           editor_follow_interval_s=0.2)


@pytest.fixture
def workspace(tmp_path) -> Settings:
    return make_workspace(tmp_path)
