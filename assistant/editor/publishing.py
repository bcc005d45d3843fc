"""Publish drafts and roll back: validate, build in the background, switch atomically.

Publish: take the publish lock (:mod:`assistant.editor.locking`, so one publish or rollback at a time
across processes), finish any interrupted publish, and only then read the open drafts (a publish that
waited behind another does not republish what that one published) and check that each was written
against the text published now (:class:`StaleDrafts` otherwise). Copy ``knowledge_base/`` to a staging
folder with the drafts applied; validate the whole staged corpus (errors → :class:`PublishInvalid`,
nothing changes); then, from a background thread, build its index in a child process at low priority
(the old version keeps serving, with its CPU and GIL; a build past the timeout is killed), move the
index next to the others, freeze the staged corpus as the version's snapshot, journal, rewrite the
changed ``knowledge_base/`` files atomically, and switch ``data/index/CURRENT``. From that moment the
version is live: the drafts are closed and the audit written at once, then the running process swaps
engines (``on_live``; a failure there is a warning, the hot-reload follower retries), then the changed
files are optionally committed to git (a failure is a warning). Other processes follow the pointer
(:mod:`assistant.editor.hot_reload`). A crash before the pointer switch leaves the previous version
serving, and :func:`assistant.editor.versions.recover` puts ``knowledge_base/`` back in step.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from assistant.editor import locking, versions
from assistant.editor.build_worker import build_in_child
from assistant.editor.build_worker import build_timeout_s as default_build_timeout
from assistant.editor.entry_io import entry_path, entry_yaml, write_atomic
from assistant.editor.locking import Busy
from assistant.editor.voice_hooks import prerender_in_background
from assistant.kb.loader import load_corpus, validate
from assistant.qa.index_build import INDEX_FORMAT, current_version

log = logging.getLogger("assistant.editor.publishing")
GIT_TIMEOUT_S = 30.0


class PublishInvalid(Exception):
    """The staged corpus does not validate; ``problems`` are ``file:line: message`` strings."""

    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems[:5]))
        self.problems = problems


class StaleDrafts(Exception):
    """Drafts written against a text that is no longer the published one (``entries``)."""

    def __init__(self, entries: list[str]):
        super().__init__(", ".join(entries))
        self.entries = entries


@dataclass
class Job:
    """One publish or rollback, as reported by the API (``GET /api/v1/kb/publish/{id}``)."""

    id: str
    kind: str
    version: str
    actor: str
    state: str = "building"  # building → live | failed
    previous: str | None = None
    entries: list[str] = field(default_factory=list)
    message: str = ""
    error: str | None = None
    warnings: list[str] = field(default_factory=list)
    started_at: float = field(default_factory=time.time)
    timings_s: dict[str, float] = field(default_factory=dict)
    done: threading.Event = field(default_factory=threading.Event, repr=False)
    background: list[threading.Thread] = field(default_factory=list, repr=False)  # e.g. pre-rendering audio

    def as_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("done", "background")}
        for name in ("entries", "warnings", "timings_s"):
            out[name] = type(out[name])(out[name])
        return out


class Publisher:
    """Publishes and rolls back for one process; ``on_live(version)`` swaps the running engine."""

    def __init__(self, settings, store, embedder: Callable[[], Any], *,
                 on_live: Callable[[str], None] | None = None, prerender: bool = True,
                 build_timeout_s: float | None = None, lock_wait_s: float = 5.0):
        self.settings = settings
        self.store = store
        self.embedder = embedder
        self.on_live = on_live
        self.prerender = prerender
        self.build_timeout_s = build_timeout_s or default_build_timeout(settings)
        self.lock_wait_s = lock_wait_s
        self.jobs: dict[str, Job] = {}

    # ------------------------------------------------------------------ publish
    def publish(self, actor, collect: Callable[[], list[dict[str, Any]]], *, message: str = "",
                wait: bool = False) -> Job:
        """Under the lock: ``collect()`` the drafts, validate them applied to the corpus, then build
        and switch in the background. ``collect`` may raise (nothing to publish, stale drafts)."""
        fd = locking.acquire(self.settings, self.lock_wait_s)
        staging = None
        try:
            versions.recover_locked(self.settings)
            drafts = collect()
            staging = Path(tempfile.mkdtemp(prefix="staging-", dir=versions.editor_dir(self.settings)))
            kb = staging / "kb"
            versions.copy_corpus(self.settings.kb_dir, kb)
            published = load_corpus(self.settings.kb_dir, strict=False)
            for d in drafts:
                data = d["data"]
                if d["entry_id"] in published.files:  # the topic (and folder) may have changed
                    old = published.files[d["entry_id"]].relative_to(self.settings.kb_dir)
                    (kb / old).unlink(missing_ok=True)
                path = entry_path(kb, data["topic"], data["id"])
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(entry_yaml(data), encoding="utf-8")
            errors = [p.format(kb) for p in validate(kb) if not p.warning]
            if errors:
                raise PublishInvalid(errors)
            corpus = load_corpus(kb)
            embedder = self.embedder()
            version = f"{corpus.version}-{embedder.model_id}-f{INDEX_FORMAT}"
            job = Job(uuid.uuid4().hex[:12], "publish", version, actor.name, message=message,
                      previous=current_version(self.settings.index_path), entries=[d["entry_id"] for d in drafts])
            self.jobs[job.id] = job
            self._save(job)
        except BaseException:
            if staging is not None:
                shutil.rmtree(staging, ignore_errors=True)
            locking.release(fd)
            raise
        thread = threading.Thread(target=self._run_publish, args=(job, actor, drafts, corpus, embedder, staging, fd),
                                  name=f"publish-{job.id}", daemon=True)
        thread.start()
        if wait:
            job.done.wait()
        return job

    def _run_publish(self, job: Job, actor, drafts, corpus, embedder, staging: Path, fd: int) -> None:
        t0 = time.perf_counter()
        try:
            try:
                self._baseline_snapshot(job.previous)
                index_dir = self.settings.index_path / job.version
                if not (index_dir / "meta.json").exists():
                    built, peak = build_in_child(staging / "kb", staging / "index", self.settings.data_dir / "cache",
                                                 embedder, timeout_s=self.build_timeout_s)
                    job.timings_s["build_peak_rss_mb"] = peak
                    self.settings.index_path.mkdir(parents=True, exist_ok=True)
                    if not (index_dir / "meta.json").exists():
                        os.replace(built, index_dir)
                job.timings_s["build"] = round(time.perf_counter() - t0, 2)
                meta = {"published_at": _utc_now(), "published_by": actor.name, "message": job.message,
                        "previous": job.previous, "entries": job.entries, "kind": "publish",
                        "served_entries": len(corpus.served_entries)}
                snap = versions.make_snapshot(self.settings, staging / "kb", job.version, meta)
                changed = self._switch(job, snap, t0)
            except BaseException as exc:  # noqa: BLE001 - reported by the job; the previous version keeps serving
                self._fail(job, actor, exc)
            else:
                def record() -> None:
                    for d in drafts:
                        self.store.close_draft(d["entry_id"], "published", rev=d["rev"])
                    self.store.audit(actor, "publish", version=job.version, diff=_changes_diff(drafts),
                                     detail={"entries": job.entries, "message": job.message, "previous": job.previous,
                                             "files": changed, "timings_s": dict(job.timings_s)})
                self._after_switch(job, actor, changed, snap, t0, record)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
            locking.release(fd)
            self._finish(job)

    def _baseline_snapshot(self, previous: str | None) -> None:
        """Freeze the version serving now (if never frozen) so it can be rolled back to."""
        if previous is None or versions.version_meta(self.settings, previous) is not None:
            return
        corpus = load_corpus(self.settings.kb_dir, strict=False)
        if previous.startswith(corpus.version + "-"):
            versions.make_snapshot(self.settings, self.settings.kb_dir, previous,
                                   {"published_at": None, "published_by": None, "kind": "baseline",
                                    "message": "phiên bản trước khi dùng trình biên tập",
                                    "served_entries": len(corpus.served_entries)})

    def _switch(self, job: Job, snap: Path, t0: float) -> list[str]:
        """Journal, rewrite knowledge_base/, switch CURRENT (the last step that may fail the job)."""
        versions.write_journal(self.settings, job.version, job.previous, job.kind)
        changed = versions.sync_tree(snap, self.settings.kb_dir)
        versions.point_current(self.settings, job.version)
        job.timings_s["pointer"] = round(time.perf_counter() - t0, 2)
        return changed

    def _after_switch(self, job: Job, actor, changed: list[str], snap: Path, t0: float,
                      record: Callable[[], None]) -> None:
        """CURRENT names the new version: it is live whatever happens next; failures are warnings."""
        try:
            self._after_switch_steps(job, actor, changed, snap, t0, record)
        finally:
            job.state = "live"

    def _after_switch_steps(self, job: Job, actor, changed: list[str], snap: Path, t0: float,
                            record: Callable[[], None]) -> None:
        try:
            versions.clear_journal(self.settings)
        except OSError as exc:  # recovery would only confirm the switch
            self._warn(job, "không xóa được nhật ký xuất bản", exc)
        try:
            record()  # drafts closed and audit written before anything slower can fail
        except Exception as exc:  # noqa: BLE001
            self._warn(job, "không ghi được nhật ký kiểm tra hoặc đóng bản nháp", exc)
        if self.on_live is not None:
            try:
                self.on_live(job.version)
            except Exception as exc:  # noqa: BLE001 - the follower retries at its next tick
                self._warn(job, "phiên bản mới đã được chuyển nhưng tiến trình này chưa nạp được "
                                "(sẽ tự thử lại trong giây lát)", exc)
        job.timings_s["live"] = round(time.perf_counter() - t0, 2)
        log.info("%s %s live in %.1f s (%s)", job.kind, job.version, job.timings_s["live"], actor.name)
        if self.settings.editor_git_commit and changed:
            t = time.perf_counter()
            problem = self._git_commit(job, actor, changed)
            job.timings_s["git"] = round(time.perf_counter() - t, 2)
            if problem:
                self._warn(job, "không commit được knowledge_base/ vào git", problem)
        if self.prerender and job.kind == "publish":
            try:
                job.background.append(prerender_in_background(load_corpus(snap), self.settings))
            except Exception as exc:  # noqa: BLE001 - audio is an optimisation
                self._warn(job, "không tạo sẵn được âm thanh câu trả lời", exc)

    def _git_commit(self, job: Job, actor, changed: list[str]) -> str | None:
        """Commit exactly the changed corpus files (no hooks, bounded time); a problem, or ``None``."""
        env = {**os.environ, "GIT_COMMITTER_NAME": "assistant", "GIT_COMMITTER_EMAIL": "assistant@editor.invalid",
               "GIT_TERMINAL_PROMPT": "0"}

        def git(where: Path, *args: str) -> str:
            return subprocess.run(["git", "-C", str(where), *args], check=True, capture_output=True, text=True,
                                  timeout=GIT_TIMEOUT_S, env=env).stdout
        try:
            kb = self.settings.kb_dir.resolve()
            top = Path(git(kb, "rev-parse", "--show-toplevel").strip())
            names = [(kb / rel).relative_to(top).as_posix() for rel in changed]
            present = [n for n in names if (top / n).exists()]
            gone = [n for n in names if not (top / n).exists()]
            tracked_gone = sorted(set(git(top, "ls-files", "-z", "--", *gone).split("\0")) - {""}) if gone else []
            if tracked_gone:
                git(top, "rm", "-q", "--cached", "--", *tracked_gone)
            if present:
                git(top, "add", "--", *present)
            paths = present + tracked_gone
            if not paths or not git(top, "status", "--porcelain", "--", *paths).strip():
                return None
            git(top, "commit", "-q", "--no-verify", "-m", f"kb: {job.kind} {job.version}\n\n{job.message}".strip(),
                "--author", f"{actor.name} <{_email_name(actor.name)}@editor.invalid>", "--", *paths)
        except subprocess.CalledProcessError as exc:
            return (exc.stderr or exc.stdout or str(exc)).strip()[-300:]
        except (OSError, ValueError, subprocess.TimeoutExpired) as exc:
            return str(exc)
        return None

    def _warn(self, job: Job, what: str, exc: object) -> None:
        message = f"{what}: {exc}" if not isinstance(exc, BaseException) else f"{what}: {type(exc).__name__}: {exc}"
        log.warning("%s %s: %s", job.kind, job.version, message)
        job.warnings.append(message)

    def _fail(self, job: Job, actor, exc: BaseException) -> None:
        """Before the switch: the job failed, ``knowledge_base/`` is put back, the failure audited."""
        job.state = "failed"
        job.error = f"{type(exc).__name__}: {exc}"
        log.error("%s %s failed: %s", job.kind, job.version, job.error)
        try:
            versions.recover_locked(self.settings)  # the caller holds the lock
        except Exception:  # noqa: BLE001
            log.exception("recovery after a failed %s failed", job.kind)
        try:
            self.store.audit(actor, f"{job.kind}_failed", version=job.version,
                             detail={"entries": job.entries, "error": job.error, "message": job.message,
                                     "previous": job.previous})
        except Exception:  # noqa: BLE001
            log.exception("could not audit the failed %s", job.kind)

    def _finish(self, job: Job) -> None:
        try:
            self._save(job)
        except Exception:  # noqa: BLE001 - this process still reports it
            log.exception("could not save the state of job %s", job.id)
        finally:
            job.done.set()

    # ------------------------------------------------------------------ rollback
    def rollback(self, actor, version: str, *, wait: bool = False) -> Job:
        snap = versions.snapshot_dir(self.settings, version)  # ValueError for a malformed name
        if versions.version_meta(self.settings, version) is None:
            raise KeyError(version)
        fd = locking.acquire(self.settings, self.lock_wait_s)
        try:
            job = Job(uuid.uuid4().hex[:12], "rollback", version, actor.name,
                      previous=current_version(self.settings.index_path), message=f"khôi phục {version}")
            self.jobs[job.id] = job
            self._save(job)
        except BaseException:
            locking.release(fd)
            raise
        threading.Thread(target=self._run_rollback, args=(job, actor, snap, fd), name=f"rollback-{job.id}",
                         daemon=True).start()
        if wait:
            job.done.wait()
        return job

    def _run_rollback(self, job: Job, actor, snap: Path, fd: int) -> None:
        t0 = time.perf_counter()
        try:
            try:
                versions.recover_locked(self.settings)
                self._baseline_snapshot(job.previous)
                index_dir = self.settings.index_path / job.version
                if not (index_dir / "meta.json").exists():  # pruned: rebuild it
                    tmp = Path(tempfile.mkdtemp(prefix="rebuild-", dir=versions.editor_dir(self.settings)))
                    try:
                        built, _ = build_in_child(snap, tmp, self.settings.data_dir / "cache", self.embedder(),
                                                  timeout_s=self.build_timeout_s)
                        os.replace(built, index_dir)
                    finally:
                        shutil.rmtree(tmp, ignore_errors=True)
                changed = self._switch(job, snap, t0)
            except BaseException as exc:  # noqa: BLE001
                self._fail(job, actor, exc)
            else:
                job.entries = versions.changed_entry_ids(changed)

                def record() -> None:
                    try:
                        diff = versions.diff_versions(self.settings, job.previous, job.version) if job.previous else ""
                    except KeyError:  # the previous version was never frozen
                        diff = ""
                    self.store.audit(actor, "rollback", version=job.version, diff=diff,
                                     detail={"previous": job.previous, "entries": job.entries, "files": changed})
                self._after_switch(job, actor, changed, snap, t0, record)
        finally:
            locking.release(fd)
            self._finish(job)

    def _save(self, job: Job) -> None:
        """Keep the job's state on disk too, so every worker can report it."""
        path = versions.editor_dir(self.settings) / "jobs" / f"{job.id}.json"
        write_atomic(path, json.dumps(job.as_dict(), ensure_ascii=False).encode())

    def job(self, job_id: str) -> dict[str, Any] | None:
        """A job of this process, or one another process wrote (``None`` when unknown)."""
        if job_id in self.jobs:
            return self.jobs[job_id].as_dict()
        if not job_id.isalnum():
            return None
        path = versions.editor_dir(self.settings) / "jobs" / f"{job_id}.json"
        return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def _utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _changes_diff(drafts: list[dict[str, Any]]) -> str:
    return "\n".join(d.get("diff", "") for d in drafts if d.get("diff"))


def _email_name(name: str) -> str:
    """``Chị Lan`` → ``Chi-Lan`` (the local part of the commit author's placeholder address)."""
    from assistant.text import fold

    local = "".join(c if c.isascii() and (c.isalnum() or c in "._-") else "-" for c in fold(name)).strip("-.")
    return local or "editor"


__all__ = ["Busy", "Job", "PublishInvalid", "Publisher", "StaleDrafts"]
