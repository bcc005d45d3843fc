"""Create the SQLAlchemy engine for the chat store, with safe SQLite settings.

Any SQLAlchemy URL works. For SQLite (the default, ``sqlite:///<data_dir>/assistant.db``) every new
connection gets:

* ``PRAGMA busy_timeout`` (5 s): a writer waits for another writer instead of failing at once;
* ``PRAGMA journal_mode=WAL``: readers never block the writer and vice versa;
* ``PRAGMA synchronous=NORMAL`` (safe with WAL: no corruption, at worst the last commits are lost
  on power failure);
* ``PRAGMA foreign_keys=ON``.

SQLAlchemy, not the ``sqlite3`` module, emits ``BEGIN`` (the recipe in SQLAlchemy's SQLite
documentation), so every transaction is a real one (reads are repeatable, DDL in migrations is
transactional). Write transactions ask for ``BEGIN IMMEDIATE`` through the execution option
:data:`BEGIN_OPTION` (see :func:`writer`): they take the write lock first, waiting up to the busy
timeout, which avoids the ``database is locked`` errors of a read lock upgraded to a write lock
when requests write concurrently from a thread pool.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.engine.url import URL
from sqlalchemy.pool import StaticPool

#: Execution option naming the SQLite ``BEGIN`` mode of a connection's transactions.
BEGIN_OPTION = "sqlite_begin"
_BEGIN_MODES = frozenset({"DEFERRED", "IMMEDIATE", "EXCLUSIVE"})
BUSY_TIMEOUT_MS = 5000


def is_sqlite(url: str | URL) -> bool:
    """Whether ``url`` names a SQLite database."""
    return make_url(url).get_backend_name() == "sqlite"


def _is_memory(url: URL) -> bool:
    return url.database in (None, "", ":memory:") or url.query.get("mode") == "memory"


def sqlite_file(url: str | URL) -> Path | None:
    """The database file of a SQLite URL, or ``None`` (not SQLite, in-memory, or a ``file:`` URI)."""
    u = make_url(url)
    if u.get_backend_name() != "sqlite" or _is_memory(u) or str(u.database).startswith("file:"):
        return None
    return Path(str(u.database))


def make_engine(url: str | URL, **kwargs: Any) -> Engine:
    """Create an engine for ``url``; SQLite engines get the pragmas and ``BEGIN`` handling above.

    An in-memory SQLite URL (``sqlite://``) gets a single shared connection (``StaticPool``), so
    every thread sees the same database; it is meant for quick single-threaded tests only. Use a
    file for anything concurrent. ``kwargs`` go to :func:`sqlalchemy.create_engine`.
    """
    u = make_url(url)
    if u.get_backend_name() != "sqlite":
        kwargs.setdefault("pool_pre_ping", True)
        return create_engine(u, **kwargs)
    if _is_memory(u) and "poolclass" not in kwargs:
        kwargs["poolclass"] = StaticPool
        kwargs.setdefault("connect_args", {}).setdefault("check_same_thread", False)
    engine = create_engine(u, **kwargs)
    _install_sqlite_hooks(engine)
    return engine


def _install_sqlite_hooks(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy emit BEGIN itself (see the module docstring).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.execute("PRAGMA foreign_keys = ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = str(conn.get_execution_options().get(BEGIN_OPTION, "DEFERRED")).upper()
        if mode not in _BEGIN_MODES:
            raise ValueError(f"{BEGIN_OPTION} must be one of {sorted(_BEGIN_MODES)}, not {mode!r}")
        conn.exec_driver_sql(f"BEGIN {mode}")


def writer(engine: Engine) -> Engine:
    """A view of ``engine`` whose transactions start with ``BEGIN IMMEDIATE`` on SQLite.

    It shares the connection pool of ``engine``; on other databases the option is ignored.
    """
    return engine.execution_options(**{BEGIN_OPTION: "IMMEDIATE"})
