"""The publish lock: one publish, rollback or crash recovery at a time, across processes.

An exclusive ``flock`` on ``data/editor/publish.lock``. ``flock`` locks belong to an open file, so a
second :func:`acquire` in the same process (another thread) is refused too. Publishing and rolling
back wait a little for it (:func:`acquire`, :class:`Busy` after ``wait_s``); crash recovery and a
starting worker only try (:func:`try_acquire`): when another process holds it, a publish is running
and its journal is not a crash.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

LOCK_FILE = "publish.lock"


class Busy(Exception):
    """Another publish or rollback is running."""


def lock_path(settings) -> Path:
    folder = settings.data_dir / "editor"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / LOCK_FILE


def try_acquire(settings) -> int | None:
    """The locked file descriptor, or ``None`` at once when someone else holds the lock."""
    fd = os.open(lock_path(settings), os.O_CREAT | os.O_RDWR, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    except BaseException:
        os.close(fd)
        raise
    return fd


def acquire(settings, wait_s: float = 5.0) -> int:
    """The locked file descriptor; :class:`Busy` when it stays held for ``wait_s`` seconds."""
    deadline = time.monotonic() + wait_s
    while True:
        fd = try_acquire(settings)
        if fd is not None:
            return fd
        if time.monotonic() >= deadline:
            raise Busy("đang có một lần xuất bản hoặc khôi phục khác, vui lòng chờ")
        time.sleep(0.1)


def release(fd: int) -> None:
    try:
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


@contextmanager
def held_if_free(settings) -> Iterator[bool]:
    """``with held_if_free(s) as got:`` holds the lock for the block when it was free (``got``)."""
    fd = try_acquire(settings)
    try:
        yield fd is not None
    finally:
        if fd is not None:
            release(fd)
