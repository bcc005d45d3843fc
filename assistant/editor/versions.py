"""Published corpus versions: immutable snapshots, the CURRENT pointer, and the publish journal.

A published version is the index version string (``<corpus hash>-<model>-f<format>``) that
``data/index/CURRENT`` names. Next to its index folder, ``data/kb_versions/<version>/`` holds the
exact corpus files it was built from (written once, read-only), so every worker loads the same
corpus and a rollback restores it. ``knowledge_base/`` stays the source of truth: publishing
rewrites its changed files atomically from the snapshot.

Crash safety: before touching ``knowledge_base/`` a journal (``data/editor/publish-journal.json``)
names the version being published. :func:`recover` (run at start-up, by CLI commands, and inside
each publish) finds an unfinished journal and makes ``knowledge_base/`` match the version
``CURRENT`` names, which is the previous one unless the crash came after the pointer switched. The
pointer switches last. Recovery runs only while holding the publish lock
(:mod:`assistant.editor.locking`): a journal next to a held lock is a publish at work, not a crash.
"""

from __future__ import annotations

import difflib
import json
import logging
import os
import shutil
import stat
import tempfile
import time
from pathlib import Path
from typing import Any

from assistant.editor import locking
from assistant.editor.entry_io import fsync_dir, fsync_file, new_dir_mode, write_atomic
from assistant.kb.loader import DOCUMENTS_FILE, ENTRIES_DIR, OUT_OF_SCOPE_FILE, REDIRECTS_FILE
from assistant.qa.index_build import _point_current, current_version

log = logging.getLogger("assistant.editor.versions")
SNAPSHOTS = "kb_versions"
META = "version.json"
JOURNAL = "publish-journal.json"
REGISTRY_FILES = (DOCUMENTS_FILE, REDIRECTS_FILE, OUT_OF_SCOPE_FILE)


def editor_dir(settings) -> Path:
    path = settings.data_dir / "editor"
    path.mkdir(parents=True, exist_ok=True)
    return path


def snapshot_root(settings) -> Path:
    return settings.data_dir / SNAPSHOTS


def snapshot_dir(settings, version: str) -> Path:
    if not version or "/" in version or version.startswith("."):
        raise ValueError(f"phiên bản không hợp lệ {version!r}")
    return snapshot_root(settings) / version


def corpus_files(root: Path) -> dict[str, Path]:
    """Relative path → file, for the files that make up a corpus (entries and the three registries)."""
    out = {name: root / name for name in REGISTRY_FILES if (root / name).is_file()}
    entries = root / ENTRIES_DIR
    if entries.is_dir():
        for path in sorted(entries.glob("*/*.y*ml")):
            if not path.name.startswith("."):
                out[path.relative_to(root).as_posix()] = path
    return out


def copy_corpus(src: Path, dst: Path) -> None:
    for rel, path in corpus_files(src).items():
        target = dst / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)


def make_snapshot(settings, src: Path, version: str, meta: dict[str, Any]) -> Path:
    """Freeze the corpus in ``src`` as ``version`` (no-op when that snapshot exists: versions are immutable).

    Files read-only and fsynced, folders with the umask's mode (``mkdtemp`` alone would make the
    snapshot 0700) and fsynced, then one rename into place, then the parent folder fsynced.
    """
    final = snapshot_dir(settings, version)
    if (final / META).exists():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{version}-", dir=final.parent))
    try:
        copy_corpus(src, tmp)
        (tmp / META).write_text(json.dumps({"version": version, **meta}, ensure_ascii=False, indent=2), encoding="utf-8")
        tmp.chmod(new_dir_mode())
        folders = [tmp]
        for path in sorted(tmp.rglob("*")):
            if path.is_file():
                path.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
                fsync_file(path)
            elif path.is_dir():
                folders.append(path)
        for folder in reversed(folders):
            fsync_dir(folder)
        if final.exists():  # a half-made folder from a crash (no META): replace it
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    fsync_dir(final.parent)
    return final


def version_meta(settings, version: str) -> dict[str, Any] | None:
    path = snapshot_dir(settings, version) / META
    if not path.exists():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def list_versions(settings) -> list[dict[str, Any]]:
    """Published versions, newest first, with ``current`` and whether the index is still on disk."""
    current = current_version(settings.index_path)
    out = []
    root = snapshot_root(settings)
    for meta_path in root.glob(f"*/{META}") if root.is_dir() else []:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        version = meta["version"]
        meta["current"] = version == current
        meta["index_built"] = (settings.index_path / version / "meta.json").exists()
        out.append(meta)
    if current and not any(m["version"] == current for m in out):
        out.append({"version": current, "current": True, "index_built": True, "published_at": None,
                    "published_by": None, "message": "phiên bản đang chạy (chưa có ảnh chụp)"})
    return sorted(out, key=lambda m: m.get("published_at") or "", reverse=True)


def sync_tree(src: Path, dst: Path) -> list[str]:
    """Make the corpus files of ``dst`` equal to those of ``src`` (atomic per file); changed paths.

    Rewritten files keep their mode (:func:`~assistant.editor.entry_io.write_atomic`); after
    deletions their folders are fsynced too.
    """
    want = corpus_files(src)
    have = corpus_files(dst)
    changed = []
    for rel, path in want.items():
        data = path.read_bytes()
        target = dst / rel
        if rel in have and target.read_bytes() == data:
            continue
        write_atomic(target, data)
        changed.append(rel)
    emptied = set()
    for rel in sorted(set(have) - set(want)):
        (dst / rel).unlink()
        emptied.add((dst / rel).parent)
        changed.append(rel)
    for folder in sorted(emptied):
        fsync_dir(folder)
    return changed


def changed_entry_ids(paths: list[str]) -> list[str]:
    """Entry ids of changed corpus paths (``entries/<topic>/<id>.yaml``)."""
    return sorted({Path(p).stem for p in paths if p.startswith("entries/")})


def diff_versions(settings, old: str, new: str) -> str:
    """Unified diff between two published versions' snapshots (``KeyError`` when one is missing)."""
    a = corpus_files(snapshot_dir(settings, old))
    b = corpus_files(snapshot_dir(settings, new))
    if not a or not b:
        raise KeyError(old if not a else new)
    chunks = []
    for rel in sorted(set(a) | set(b)):
        x = a[rel].read_text(encoding="utf-8").splitlines(True) if rel in a else []
        y = b[rel].read_text(encoding="utf-8").splitlines(True) if rel in b else []
        if x != y:
            chunks.append("".join(difflib.unified_diff(x, y, f"a/{rel}", f"b/{rel}")))
    return "".join(chunks)


def point_current(settings, version: str) -> None:
    """Switch ``data/index/CURRENT`` (the last step of a publish or rollback)."""
    if not (settings.index_path / version / "meta.json").exists():
        raise FileNotFoundError(f"chỉ mục của phiên bản {version} không có trên đĩa")
    _point_current(settings.index_path, version)


def write_journal(settings, version: str, previous: str | None, kind: str) -> None:
    body = {"version": version, "previous": previous, "kind": kind, "pid": os.getpid(),
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    write_atomic(editor_dir(settings) / JOURNAL, json.dumps(body).encode())


def clear_journal(settings) -> None:
    (editor_dir(settings) / JOURNAL).unlink(missing_ok=True)
    fsync_dir(editor_dir(settings))


def clone_workspace(settings, root: Path, **overrides):
    """Settings for a throw-away copy of the corpus and index under ``root`` (tests, benchmarks).

    The embedding cache and the model are linked, not copied, so a build there only embeds new texts;
    the serving index version is copied so an app starts without building.
    """
    kb = root / "kb"
    shutil.copytree(settings.kb_dir, kb)
    data = root / "data"
    (data / "index").mkdir(parents=True)
    if (settings.data_dir / "cache").exists():
        (data / "cache").symlink_to((settings.data_dir / "cache").resolve())
    version = current_version(settings.index_path)
    if version is not None:
        shutil.copytree(settings.index_path / version, data / "index" / version)
        _point_current(data / "index", version)
    values = {**settings.model_dump(), "kb_dir": kb, "data_dir": data, "model_dir": settings.models_path,
              "database_url": f"sqlite:///{root / 'app.db'}", **overrides}
    return type(settings)(**values)


def journal_path(settings) -> Path:
    return settings.data_dir / "editor" / JOURNAL


def recover(settings) -> str | None:
    """Finish or undo an interrupted publish, if the publish lock is free; what was done, or ``None``.

    A journal while another process (or thread) holds the lock is a publish between its journal and
    its pointer switch, not a crash: it is left alone (undoing it would put the old files back under
    the new ``CURRENT``).
    """
    if not journal_path(settings).exists():
        return None
    with locking.held_if_free(settings) as got:
        if not got:
            log.info("a publish is running: its journal is not a crash, nothing to recover")
            return None
        return recover_locked(settings)


def recover_locked(settings) -> str | None:
    """:func:`recover` for a caller that holds the publish lock."""
    path = journal_path(settings)
    if not path.exists():
        return None
    journal = json.loads(path.read_text(encoding="utf-8"))
    current = current_version(settings.index_path)
    snap = snapshot_dir(settings, current) if current else None
    if snap is not None and (snap / META).exists():
        changed = sync_tree(snap, settings.kb_dir)
        outcome = "hoàn tất" if current == journal["version"] else "hủy"
        message = f"{outcome} lần xuất bản dở dang {journal['version']}: knowledge_base/ khớp lại {current} ({len(changed)} tệp)"
    else:
        message = f"lần xuất bản dở dang {journal['version']}: không có ảnh chụp của {current}, giữ nguyên knowledge_base/"
    log.warning(message)
    path.unlink(missing_ok=True)
    fsync_dir(path.parent)
    return message
