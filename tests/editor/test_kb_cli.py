"""``assistant kb`` editor commands on a copy of the corpus (no index build: nothing to publish)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from assistant.cli.main import app
from assistant.config import get_settings
from assistant.editor.editor_store import EditorStore
from assistant.editor.service import open_service


@pytest.fixture
def cli_env(workspace, monkeypatch):
    s = workspace
    for name, value in {"KB_DIR": s.kb_dir, "DATA_DIR": s.data_dir, "MODEL_DIR": s.models_path,
                        "DATABASE_URL": s.db_url}.items():
        monkeypatch.setenv(f"ASSISTANT_{name}", str(value))
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


def test_drafts_diff_versions_currency_and_validate(cli_env):
    runner = CliRunner()
    svc = open_service(cli_env)
    from assistant.editor.auth import Principal

    entry = svc.get_entry("cu_tru_dang_ky_tam_tru")
    body = {k: v for k, v in entry.items() if k not in ("errors", "flags")}
    body["title"] = "Đăng ký tạm trú (sửa thử)"
    svc.update("cu_tru_dang_ky_tam_tru", body, entry["version"], Principal("tester", "editor"))
    out = runner.invoke(app, ["kb", "drafts", "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)[0]["entry_id"] == "cu_tru_dang_ky_tam_tru"
    out = runner.invoke(app, ["kb", "diff"])
    assert "+title: Đăng ký tạm trú (sửa thử)" in out.output
    out = runner.invoke(app, ["kb", "versions"])
    assert out.exit_code == 0 and out.output.startswith("* ")
    out = runner.invoke(app, ["kb", "currency"])
    assert out.exit_code == 0 and "0 chưa rà soát lại" in out.output
    out = runner.invoke(app, ["kb", "audit"])
    assert "tester (editor)  update  cu_tru_dang_ky_tam_tru" in out.output
    out = runner.invoke(app, ["kb", "rollback", "khong-co-phien-ban"])
    assert out.exit_code == 1
    EditorStore(cli_env.db_url).dispose()


def test_validate_flags_law_replaced_since_the_last_review(cli_env):
    path = cli_env.kb_dir / "entries" / "giay_phep_lai_xe" / "giay_phep_lai_xe_khong_co_khong_mang_gplx.yaml"
    text = path.read_text(encoding="utf-8")
    import re

    path.write_text(re.sub(r"reviewed_at: .*", "reviewed_at: 2024-01-02", text), encoding="utf-8")
    out = CliRunner().invoke(app, ["kb", "validate", "--kb-dir", str(cli_env.kb_dir)])
    assert out.exit_code == 0 and "warning: trích dẫn văn bản đã hết hiệu lực 100/2019/NĐ-CP" in out.output
    out = CliRunner().invoke(app, ["kb", "currency"])
    assert out.exit_code == 1 and "CŨ giay_phep_lai_xe_khong_co_khong_mang_gplx" in out.output


def test_rollback_errors_are_messages_not_tracebacks(cli_env):
    from assistant.editor import versions
    from assistant.qa.index_build import current_version

    from .conftest import lock_held_elsewhere

    runner = CliRunner()
    out = runner.invoke(app, ["kb", "rollback", "../../etc"])
    assert out.exit_code == 1 and "không có phiên bản ../../etc" in out.output and out.exception.__class__ is SystemExit
    current = current_version(cli_env.index_path)
    versions.make_snapshot(cli_env, cli_env.kb_dir, current, {"published_at": None})
    with lock_held_elsewhere(cli_env):  # a publish running in the server
        out = runner.invoke(app, ["kb", "rollback", current])
    assert out.exit_code == 1 and "đang có một lần xuất bản" in out.output
    assert "Traceback" not in out.output and isinstance(out.exception, SystemExit)


def test_publish_waits_for_the_spoken_answers_before_exiting(cli_env, monkeypatch):
    import threading
    import time
    from types import SimpleNamespace

    from assistant.editor import publishing, voice_hooks
    from assistant.editor.auth import Principal
    from assistant.editor.service import EditorService

    from .conftest import FakeBuild, edit

    monkeypatch.setattr(publishing, "build_in_child", FakeBuild())
    monkeypatch.setattr(EditorService, "_default_embedder", lambda self: SimpleNamespace(model_id="fake-model"))
    rendered = threading.Event()

    def prerender(corpus, settings):
        time.sleep(0.5)  # a daemon thread doing this would die with the command
        rendered.set()
        return "done"

    monkeypatch.setattr(voice_hooks, "prerender_published", prerender)
    svc = open_service(cli_env)
    edit(svc, "cu_tru_dang_ky_tam_tru", Principal("tester", "editor"), title="Đăng ký tạm trú (CLI)")
    out = CliRunner().invoke(app, ["kb", "publish", "-m", "qua dòng lệnh"])
    assert out.exit_code == 0, out.output
    assert rendered.is_set() and out.output.count("live: ") == 1
    svc.store.dispose()
