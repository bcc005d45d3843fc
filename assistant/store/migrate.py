"""Run the store's Alembic migrations programmatically (no ``alembic.ini`` needed).

:func:`alembic_config` builds a :class:`alembic.config.Config` pointing at the migrations shipped
in this package; :func:`upgrade` brings a database to the newest revision. Developers can use the
same config with any Alembic command, e.g. to write the next migration::

    from alembic import command
    from assistant.store.migrate import alembic_config
    command.revision(alembic_config("sqlite:///data/assistant.db"), "add x", autogenerate=True)
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.engine.url import URL

from assistant.store.engine import sqlite_file, writer

#: The Alembic script directory (``env.py``, ``script.py.mako``, ``versions/``).
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str | URL) -> Config:
    """An Alembic config for ``url`` and the migrations of this package."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("path_separator", "os")
    rendered = make_url(url).render_as_string(hide_password=False)
    # The config is a ConfigParser: a literal "%" (e.g. in a password) must be doubled.
    cfg.set_main_option("sqlalchemy.url", rendered.replace("%", "%%"))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Upgrade the database of ``engine`` to ``revision`` (idempotent; safe at every start-up).

    The migration runs in one transaction on a connection of ``engine`` (so the SQLite pragmas
    apply). On SQLite it starts with ``BEGIN IMMEDIATE`` and on PostgreSQL ``env.py`` takes an
    advisory lock, so several workers starting at once migrate one after the other; the later ones
    find the database already at ``head`` and do nothing. A SQLite file's folder is created if
    missing.
    """
    db_file = sqlite_file(engine.url)
    if db_file is not None:
        db_file.parent.mkdir(parents=True, exist_ok=True)
    cfg = alembic_config(engine.url)
    with writer(engine).begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)


def current_revision(engine: Engine) -> str | None:
    """The revision the database of ``engine`` is at (``None`` before the first migration)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    """The newest revision shipped in the package."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
