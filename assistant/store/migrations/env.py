"""Alembic environment of the chat store.

Used two ways:

* by :func:`assistant.store.migrate.upgrade`, which passes an open connection (already in a
  transaction) in ``config.attributes["connection"]``;
* by Alembic commands run on a :func:`assistant.store.migrate.alembic_config` config, which only
  carries ``sqlalchemy.url`` (online: an engine is made with the store's SQLite settings;
  offline, ``--sql``: SQL is printed).
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import text
from sqlalchemy.engine import Connection

from assistant.store.engine import make_engine, writer
from assistant.store.models import Base

config = context.config
target_metadata = Base.metadata

#: Key of the PostgreSQL advisory lock that serialises concurrent migrations ("chatstor").
_PG_LOCK_KEY = 0x63686174_73746F72


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite cannot ALTER most things
        compare_type=True,
    )


def _run(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
    context.run_migrations()


def run_migrations_offline() -> None:
    """Print the SQL of the migrations for ``sqlalchemy.url``'s dialect."""
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Migrate through the shared connection, or a fresh engine for ``sqlalchemy.url``."""
    shared = config.attributes.get("connection")
    if shared is not None:
        _configure(shared)
        with context.begin_transaction():  # joins the caller's transaction; the caller commits
            _run(shared)
        return
    engine = make_engine(config.get_main_option("sqlalchemy.url") or "")
    try:
        with writer(engine).connect() as connection:
            _configure(connection)
            with context.begin_transaction():
                _run(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
