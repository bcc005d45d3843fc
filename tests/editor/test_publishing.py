"""Publishing and rolling back on a copy of the corpus, with the index build faked (``FakeBuild``): the
lock, recovery, stale drafts, failures after and before the pointer switch, the audit log, git."""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from assistant.editor import locking, publishing, versions, wiring
from assistant.editor.auth import Principal
from assistant.editor.build_worker import BuildFailed
from assistant.editor.service import NotFound, StaleDrafts, open_service
from assistant.kb.loader import load_corpus
from assistant.qa.index_build import current_version

from .conftest import edit, lock_held_elsewhere

ENTRY = "cu_tru_dang_ky_tam_tru"
OTHER = "cu_tru_chuyen_noi_thuong_tru"
WHO = Principal("Chị Lan", "publisher")


def entry_file(s, entry_id: str = ENTRY) -> Path:
    return s.kb_dir / "entries" / "cu_tru" / f"{entry_id}.yaml"


def test_recovery_while_a_publish_holds_the_lock_does_nothing(workspace):
    s = workspace
    current = current_version(s.index_path)
    versions.make_snapshot(s, s.kb_dir, current, {"published_at": None})
    original = entry_file(s).read_bytes()
    entry_file(s).write_bytes(original + b"# half-written by a publish\n")  # a publish between journal and switch
    versions.write_journal(s, "next-version", current, "publish")
    with lock_held_elsewhere(s):
        assert versions.recover(s) is None  # an app start or a CLI command meanwhile
        open_service(s).store.dispose()
        assert wiring.settle(s, wait_s=0.3) is False  # a starting worker waits for the switch, then gives up
        assert entry_file(s).read_bytes() != original and versions.journal_path(s).exists()
    assert "hủy" in versions.recover(s)  # the lock is free again: that journal really is a crash
    assert entry_file(s).read_bytes() == original and not versions.journal_path(s).exists()


def test_a_worker_starting_during_a_publish_loads_the_version_current_names(workspace, monkeypatch):
    s = workspace
    current = current_version(s.index_path)
    snap = versions.make_snapshot(s, s.kb_dir, current, {"published_at": None})
    original = entry_file(s).read_bytes()
    entry_file(s).write_bytes(original + b"# half-written by a publish\n")
    versions.write_journal(s, "next-version", current, "publish")
    index_folders = sorted(p.name for p in s.index_path.iterdir())

    class FakeEmbedder:
        def __init__(self, path, prefix, threads):
            self.warm = False

        def warm_up(self):
            self.warm = True

    def no_knowledge_base(cls, settings, log=None):
        raise AssertionError("QAEngine.load reads knowledge_base/ (and may build and move CURRENT)")

    monkeypatch.setattr("assistant.qa.embedder.Embedder", FakeEmbedder)
    monkeypatch.setattr("assistant.qa.embedder.resolve_model_path", lambda *a, **k: Path("model"))
    monkeypatch.setattr("assistant.qa.engine.QAEngine.load", classmethod(no_knowledge_base))
    with lock_held_elsewhere(s):
        engine = wiring.load_engine(s)
    assert engine.version == current and engine.embedder.warm
    assert engine.corpus.version == load_corpus(snap).version != load_corpus(s.kb_dir).version
    assert current_version(s.index_path) == current and sorted(p.name for p in s.index_path.iterdir()) == index_folders

    seen = {}

    def load_locked(cls, settings, log=None):  # the lock is free: recover, then load while holding it
        seen["corpus"] = load_corpus(settings.kb_dir).version
        seen["locked"] = locking.try_acquire(settings) is None
        return "engine"

    monkeypatch.setattr("assistant.qa.engine.QAEngine.load", classmethod(load_locked))
    assert wiring.load_engine(s) == "engine"
    assert seen == {"corpus": load_corpus(snap).version, "locked": True}
    assert entry_file(s).read_bytes() == original


def test_a_second_publish_is_busy_and_one_that_waited_rereads_the_drafts(editor, monkeypatch):
    svc, build = editor.svc, editor.build
    edit(svc, ENTRY, WHO, title="Đăng ký tạm trú (lần một)")
    build.gate = threading.Event()
    first = svc.publish(WHO, message="một")
    assert first.state == "building"
    with pytest.raises(locking.Busy):
        svc.publish(WHO, message="hai")

    waiting = threading.Event()
    real_acquire = locking.acquire

    def acquire(settings, wait_s=5.0):
        waiting.set()
        return real_acquire(settings, wait_s)

    monkeypatch.setattr(publishing.locking, "acquire", acquire)
    svc.publisher.lock_wait_s = 30
    outcome = {}

    def second():
        try:
            outcome["job"] = svc.publish(WHO, message="ba")
        except Exception as exc:  # noqa: BLE001 - recorded for the assertion
            outcome["error"] = exc

    thread = threading.Thread(target=second)
    thread.start()
    assert waiting.wait(10)  # the second publish waits for the lock with the draft still open
    build.gate.set()
    thread.join(30)
    assert first.done.wait(30) and first.state == "live", first.error
    assert isinstance(outcome.get("error"), NotFound), outcome  # it did not publish the same draft again
    assert build.calls == 1


def test_a_failed_build_leaves_the_previous_version_serving_and_is_audited(editor):
    s, svc = editor.settings, editor.svc
    serving, original = current_version(s.index_path), entry_file(s).read_bytes()
    edit(svc, ENTRY, WHO, title="Đăng ký tạm trú (không dựng được)")
    editor.build.error = BuildFailed("index build failed (exit -9): killed")
    job = svc.publish(WHO, message="thử", wait=True)
    assert job.state == "failed" and "exit -9" in job.error
    assert current_version(s.index_path) == serving and entry_file(s).read_bytes() == original
    assert [d["entry_id"] for d in svc.pending()] == [ENTRY]  # the draft is kept
    assert svc.publisher.job(job.id)["state"] == "failed"
    events = editor.store.audit_events(entry_id=ENTRY)
    assert events[0]["action"] == "publish_failed" and "exit -9" in events[0]["detail"]["error"]


def test_a_failing_engine_swap_after_the_switch_is_a_warning_on_a_live_job(editor):
    s, svc = editor.settings, editor.svc

    def on_live(version):
        raise RuntimeError("không nạp được chỉ mục")

    svc.publisher.on_live = on_live
    edit(svc, ENTRY, WHO, title="Đăng ký tạm trú (đã sửa)")
    job = svc.publish(WHO, message="sửa tiêu đề", wait=True)
    assert job.state == "live" and job.error is None
    assert any("không nạp được chỉ mục" in w for w in job.warnings)
    assert current_version(s.index_path) == job.version
    assert "Đăng ký tạm trú (đã sửa)" in entry_file(s).read_text(encoding="utf-8")
    assert svc.pending() == []  # drafts closed although the swap failed
    event = editor.store.audit_events(entry_id=ENTRY)[0]
    assert event["action"] == "publish" and event["entry_id"] is None and event["detail"]["entries"] == [ENTRY]
    assert "+title: Đăng ký tạm trú (đã sửa)" in event["diff"]


def test_drafts_written_against_an_older_text_are_refused_until_re_saved(editor):
    s, svc, store = editor.settings, editor.svc, editor.store
    edit(svc, ENTRY, WHO, title="Đăng ký tạm trú (lần một)")
    first = svc.publish(WHO, message="một", wait=True)
    assert first.state == "live" and svc.get_entry(ENTRY)["rebase_needed"] is False

    edit(svc, ENTRY, WHO, title="Đăng ký tạm trú (sau lần một)")  # written against `first`
    rollback = svc.rollback(WHO, first.previous, wait=True)
    assert rollback.state == "live" and rollback.entries == [ENTRY]
    assert svc.get_entry(ENTRY)["rebase_needed"] is True
    with pytest.raises(StaleDrafts) as err:
        svc.publish(WHO)  # would silently undo the rollback's restored text otherwise
    assert err.value.entries == [ENTRY] and editor.build.calls == 1
    events = store.audit_events(entry_id=ENTRY)
    assert [e["action"] for e in events][:3] == ["publish_failed", "rollback", "update"]
    assert events[0]["detail"]["stage"] == "stale_drafts"
    assert "-title: Đăng ký tạm trú (lần một)" in events[1]["diff"]  # the rollback's diff is the versions' diff

    edit(svc, ENTRY, WHO)  # re-opened and saved again: now based on what is published
    assert svc.get_entry(ENTRY)["rebase_needed"] is False
    path = entry_file(s)
    path.write_text(path.read_text(encoding="utf-8").replace("\nanswer:", "\nreview_note: sửa tay\nanswer:", 1),
                    encoding="utf-8")  # a hand edit (or a git pull) of the published text
    with pytest.raises(StaleDrafts):
        svc.publish(WHO)
    edit(svc, ENTRY, WHO)
    job = svc.publish(WHO, message="sau khi xem lại", wait=True)
    assert job.state == "live" and "Đăng ký tạm trú (sau lần một)" in path.read_text(encoding="utf-8")


def test_a_publish_commits_exactly_the_changed_files_to_git(editor, monkeypatch):
    s = editor.settings
    git = ["git", "-C", str(s.kb_dir), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "start"], check=True)
    hook = s.kb_dir / ".git" / "hooks" / "pre-commit"
    hook.write_text("#!/bin/sh\nexit 1\n")
    hook.chmod(0o755)
    readme = s.kb_dir / "README.md"
    readme.write_text(readme.read_text(encoding="utf-8") + "\nsửa tay chưa commit\n", encoding="utf-8")
    subprocess.run([*git, "add", "README.md"], check=True)  # even staged, it is not the editor's to commit
    monkeypatch.setattr(editor.svc.publisher, "settings", s.model_copy(update={"editor_git_commit": True}))
    edit(editor.svc, ENTRY, Principal("Nguyễn Thị Lan", "editor"), title="Đăng ký tạm trú (git)")
    job = editor.svc.publish(WHO, message="tiêu đề mới", wait=True)
    assert job.state == "live" and job.warnings == [], job.warnings
    show = subprocess.run([*git, "show", "--name-only", "--format=%an|%ae|%cn|%s", "HEAD"], check=True,
                          capture_output=True, text=True).stdout.split("\n")
    assert show[0] == f"Chị Lan|chi-lan@editor.invalid|assistant|kb: publish {job.version}"
    assert [line for line in show[1:] if line] == [f"entries/cu_tru/{ENTRY}.yaml"]
    status = subprocess.run([*git, "status", "--porcelain"], check=True, capture_output=True, text=True).stdout
    assert status.strip() == "M  README.md"

    edit(editor.svc, ENTRY, WHO, title="Đăng ký tạm trú (không git)")
    subprocess.run(["rm", "-rf", str(s.kb_dir / ".git")], check=True)  # not a repository any more
    job = editor.svc.publish(WHO, wait=True)
    assert job.state == "live" and any("git" in w for w in job.warnings), job.warnings


def test_a_build_past_its_timeout_is_killed_and_fails(tmp_path, monkeypatch):
    from assistant.editor import build_worker

    hang = tmp_path / "python"
    hang.write_text("#!/bin/sh\nexec sleep 60\n")
    hang.chmod(0o755)
    monkeypatch.setattr(build_worker.sys, "executable", str(hang))
    started = time.monotonic()
    with pytest.raises(BuildFailed, match="timed out after 0.5 s"):
        build_worker.build_in_child(tmp_path / "kb", tmp_path / "out", tmp_path / "cache",
                                    SimpleNamespace(model_path="m", prefix="query: ", threads=1), timeout_s=0.5)
    assert time.monotonic() - started < 5
    from assistant.config import Settings

    assert build_worker.build_timeout_s(Settings()) == 900.0
    monkeypatch.setenv("ASSISTANT_EDITOR_BUILD_TIMEOUT_S", "1200")
    assert build_worker.build_timeout_s(Settings()) == 1200.0


def test_the_build_child_lowers_its_own_priority_first(monkeypatch):
    from assistant.editor import build_worker

    calls = []

    def nice(n):
        calls.append(n)
        raise SystemExit(0)  # stop before the build itself

    monkeypatch.setattr(build_worker.os, "nice", nice)
    with pytest.raises(SystemExit):
        build_worker.main(["kb", "out", "cache", "model", "query: ", "1"])
    assert calls == [build_worker.NICENESS]
    seen = {}

    def run(cmd, **kwargs):
        seen.update(kwargs)
        return SimpleNamespace(returncode=0, stdout='{"built": "x", "peak_rss_mb": 1}\n', stderr="")

    monkeypatch.setattr(build_worker.subprocess, "run", run)
    build_worker.build_in_child(Path("kb"), Path("out"), Path("cache"),
                                SimpleNamespace(model_path="m", prefix="q", threads=1), timeout_s=7)
    assert "preexec_fn" not in seen and seen["timeout"] == 7
