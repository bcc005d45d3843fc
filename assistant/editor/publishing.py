"""Publish drafts and roll back: validate, build in the background, switch atomically.

Publish: copy ``knowledge_base/`` to a staging folder and apply the open, complete drafts; validate
the whole staged corpus (errors → :class:`PublishInvalid`, nothing changes); then, from a background
thread, build its index in a child process at low priority (the old version keeps serving, with
its CPU and GIL), move the index next to the others, freeze
the staged corpus as the version's snapshot, journal, rewrite the changed ``knowledge_base/`` files
atomically, optionally commit them to git, and switch ``data/index/CURRENT`` last. The running
process swaps engines at once (``on_live``); other processes follow the pointer
(:mod:`assistant.editor.hot_reload`). Only one publish or rollback runs at a time (a file lock, so
across processes too). A crash before the pointer switch leaves the previous version serving, and
:func:`assistant.editor.versions.recover` puts ``knowledge_base/`` back in step.
"""

from __future__ import annotations

import fcntl
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

from assistant.editor import versions
from assistant.editor.build_worker import build_in_child
from assistant.editor.entry_io import entry_path, entry_yaml, write_atomic
from assistant.editor.voice_hooks import prerender_in_background
from assistant.kb.loader import load_corpus, validate
from assistant.qa.index_build import INDEX_FORMAT, current_version

log = logging.getLogger("assistant.editor.publishing")


class PublishInvalid(Exception):
    """The staged corpus does not validate; ``problems`` are ``file:line: message`` strings."""

    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems[:5]))
        self.problems = problems


class Busy(Exception):
    """Another publish or rollback is running."""


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
    started_at: float = field(default_factory=time.time)
    timings_s: dict[str, float] = field(default_factory=dict)
    done: threading.Event = field(default_factory=threading.Event, repr=False)

    def as_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "done"}
        out["entries"] = list(self.entries)
        out["timings_s"] = dict(self.timings_s)
        return out


class Publisher:
    """Publishes and rolls back for one process; ``on_live(version)`` swaps the running engine."""

    def __init__(self, settings, store, embedder: Callable[[], Any], *,
                 on_live: Callable[[str], None] | None = None, prerender: bool = True):
        self.settings = settings
        self.store = store
        self.embedder = embedder
        self.on_live = on_live
        self.prerender = prerender
        self.jobs: dict[str, Job] = {}
        self.fail_before_switch = False  # tests: simulate a crash after knowledge_base/ was rewritten

    # ------------------------------------------------------------------ locking
    def _lock(self, wait_s: float = 5.0) -> int:
        fd = os.open(versions.editor_dir(self.settings) / "publish.lock", os.O_CREAT | os.O_RDWR, 0o644)
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return fd
            except BlockingIOError:
                if time.monotonic() > deadline:
                    os.close(fd)
                    raise Busy("đang có một lần xuất bản hoặc khôi phục khác, vui lòng chờ") from None
                time.sleep(0.1)

    @staticmethod
    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)

    # ------------------------------------------------------------------ publish
    def publish(self, actor, drafts: list[dict[str, Any]], *, message: str = "", wait: bool = False) -> Job:
        """Validate the drafts applied to the corpus, then build and switch in the background."""
        fd = self._lock()
        staging = None
        try:
            versions.recover(self.settings)
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
            self._unlock(fd)
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
            self._baseline_snapshot(job.previous)
            index_dir = self.settings.index_path / job.version
            if not (index_dir / "meta.json").exists():
                built, peak = build_in_child(staging / "kb", staging / "index", self.settings.data_dir / "cache",
                                             embedder)
                job.timings_s["build_peak_rss_mb"] = peak
                self.settings.index_path.mkdir(parents=True, exist_ok=True)
                if not (index_dir / "meta.json").exists():
                    os.replace(built, index_dir)
            job.timings_s["build"] = round(time.perf_counter() - t0, 2)
            meta = {"published_at": _utc_now(), "published_by": actor.name, "message": job.message,
                    "previous": job.previous, "entries": job.entries, "kind": "publish",
                    "served_entries": len(corpus.served_entries)}
            snap = versions.make_snapshot(self.settings, staging / "kb", job.version, meta)
            self._switch(job, actor, snap, t0)
            for d in drafts:
                self.store.close_draft(d["entry_id"], "published", rev=d["rev"])
            self.store.audit(actor, "publish", version=job.version, diff=_changes_diff(drafts),
                             detail={"entries": job.entries, "message": job.message, "previous": job.previous,
                                     "timings_s": job.timings_s})
            if self.prerender:
                prerender_in_background(load_corpus(snap), self.settings)
            done = "live"
        except BaseException as exc:  # noqa: BLE001 - reported by the job; the previous version keeps serving
            done = self._fail(job, exc)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
            self._unlock(fd)
        job.state = done
        self._save(job)
        job.done.set()

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

    def _switch(self, job: Job, actor, snap: Path, t0: float) -> None:
        """Journal, rewrite knowledge_base/, commit, switch CURRENT, swap this process's engine."""
        versions.write_journal(self.settings, job.version, job.previous, job.kind)
        changed = versions.sync_tree(snap, self.settings.kb_dir)
        if self.fail_before_switch:
            raise RuntimeError("simulated crash before the pointer switch")
        if self.settings.editor_git_commit and changed:
            job.timings_s["git"] = self._git_commit(job, actor, changed)
        versions.point_current(self.settings, job.version)
        versions.clear_journal(self.settings)
        job.timings_s["pointer"] = round(time.perf_counter() - t0, 2)
        if self.on_live is not None:
            self.on_live(job.version)
        job.timings_s["live"] = round(time.perf_counter() - t0, 2)
        log.info("%s %s live in %.1f s (%s)", job.kind, job.version, job.timings_s["live"], actor.name)

    def _git_commit(self, job: Job, actor, changed: list[str]) -> float:
        t = time.perf_counter()
        kb = self.settings.kb_dir
        try:
            top = subprocess.run(["git", "-C", str(kb), "rev-parse", "--show-toplevel"], check=True,
                                 capture_output=True, text=True).stdout.strip()
            subprocess.run(["git", "-C", top, "add", "-A", "--", str(kb)], check=True, capture_output=True)
            subprocess.run(["git", "-C", top, "commit", "-q", "-m", f"kb: {job.kind} {job.version}\n\n{job.message}",
                            "--author", f"{actor.name} <{actor.name}@editor.invalid>", "--", str(kb)],
                           check=True, capture_output=True, env={**os.environ, "GIT_COMMITTER_NAME": "assistant",
                                                                 "GIT_COMMITTER_EMAIL": "assistant@editor.invalid"})
        except (OSError, subprocess.CalledProcessError) as exc:
            log.warning("git commit of the knowledge base failed: %s", getattr(exc, "stderr", exc))
        return round(time.perf_counter() - t, 2)

    def _fail(self, job: Job, exc: BaseException) -> str:
        job.error = f"{type(exc).__name__}: {exc}"
        log.error("%s %s failed: %s", job.kind, job.version, job.error)
        try:
            versions.recover(self.settings)
        except Exception:  # noqa: BLE001
            log.exception("recovery after a failed %s failed", job.kind)
        return "failed"

    # ------------------------------------------------------------------ rollback
    def rollback(self, actor, version: str, *, wait: bool = False) -> Job:
        snap = versions.snapshot_dir(self.settings, version)
        if versions.version_meta(self.settings, version) is None:
            raise KeyError(version)
        fd = self._lock()
        job = Job(uuid.uuid4().hex[:12], "rollback", version, actor.name, previous=current_version(self.settings.index_path),
                  message=f"khôi phục {version}")
        self.jobs[job.id] = job
        self._save(job)

        def run() -> None:
            t0 = time.perf_counter()
            try:
                versions.recover(self.settings)
                self._baseline_snapshot(job.previous)
                if not (self.settings.index_path / version / "meta.json").exists():  # pruned: rebuild it
                    tmp = Path(tempfile.mkdtemp(prefix="rebuild-", dir=versions.editor_dir(self.settings)))
                    try:
                        built, _ = build_in_child(snap, tmp, self.settings.data_dir / "cache", self.embedder())
                        os.replace(built, self.settings.index_path / version)
                    finally:
                        shutil.rmtree(tmp, ignore_errors=True)
                self._switch(job, actor, snap, t0)
                self.store.audit(actor, "rollback", version=version, detail={"previous": job.previous})
                done = "live"
            except BaseException as exc:  # noqa: BLE001
                done = self._fail(job, exc)
            finally:
                self._unlock(fd)
            job.state = done
            self._save(job)
            job.done.set()

        threading.Thread(target=run, name=f"rollback-{job.id}", daemon=True).start()
        if wait:
            job.done.wait()
        return job

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
