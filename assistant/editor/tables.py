"""Database tables of the editor workflow (created by migration ``0003_editor``).

They share :class:`assistant.store.models.Base`'s metadata (and naming convention) with the chat
tables, so ``compare_metadata`` sees one schema once this module is imported. JSON is kept as text.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, Integer, String, Text, text as sql_text
from sqlalchemy.orm import Mapped, mapped_column

from assistant.store.models import Base

NAME_LENGTH = 100


class Draft(Base):
    """The pending change of one entry (``kb_drafts``); one row per entry id, reused across edits.

    ``rev`` grows on every save and never goes back, so ``(base, rev)`` identifies what an editor
    saw (optimistic locking). ``state``: ``open`` (pending), ``published``, ``discarded``.
    ``complete`` is false for a draft made from the inbox that does not validate yet.
    """

    __tablename__ = "kb_drafts"

    entry_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    data: Mapped[str] = mapped_column(Text, nullable=False)
    rev: Mapped[int] = mapped_column(Integer, nullable=False)
    base: Mapped[str] = mapped_column(String(64), nullable=False)
    state: Mapped[str] = mapped_column(String(16), nullable=False, index=True)
    complete: Mapped[bool] = mapped_column(Boolean, nullable=False)
    origin: Mapped[str] = mapped_column(String(16), nullable=False, server_default=sql_text("'editor'"))
    created_by: Mapped[str] = mapped_column(String(NAME_LENGTH), nullable=False)
    updated_by: Mapped[str] = mapped_column(String(NAME_LENGTH), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class AuditEvent(Base):
    """Who did what, when, with the diff (``kb_audit``); append-only."""

    __tablename__ = "kb_audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, index=True)
    actor: Mapped[str] = mapped_column(String(NAME_LENGTH), nullable=False)
    role: Mapped[str] = mapped_column(String(16), nullable=False)
    action: Mapped[str] = mapped_column(String(32), nullable=False)
    entry_id: Mapped[str | None] = mapped_column(Text, nullable=True)
    version: Mapped[str | None] = mapped_column(Text, nullable=True)
    diff: Mapped[str] = mapped_column(Text, nullable=False, server_default=sql_text("''"))
    detail: Mapped[str] = mapped_column(Text, nullable=False, server_default=sql_text("'{}'"))


class EditorToken(Base):
    """A token an admin created (``kb_tokens``): only its SHA-256 digest is stored."""

    __tablename__ = "kb_tokens"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    role: Mapped[str] = mapped_column(String(16), nullable=False)
    name: Mapped[str] = mapped_column(String(NAME_LENGTH), nullable=False)
    created_by: Mapped[str] = mapped_column(String(NAME_LENGTH), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class InboxHandled(Base):
    """An unanswered message already turned into a draft (``kb_inbox_handled``)."""

    __tablename__ = "kb_inbox_handled"

    message_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    entry_id: Mapped[str] = mapped_column(Text, nullable=False)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
