"""ORM models of the chat database (SQLAlchemy 2.x declarative, portable SQL only).

The tables are created by the Alembic migrations in ``assistant/store/migrations``; these models
are the reference the migrations are checked against (``tests/store`` compares them with
``alembic.autogenerate.compare_metadata``). When changing a model, add a migration.

Column types are portable: SQLite and PostgreSQL (``postgresql+psycopg://…``) both work. JSON is
kept as text (``context``, ``citations``) so the schema needs no dialect-specific JSON type.
Constraint and index names follow :data:`NAMING_CONVENTION`, so migrations can refer to them.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    false,
    text as sql_text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

#: Deterministic names for constraints and indexes (needed to alter them later, e.g. in SQLite batch mode).
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ID_LENGTH = 32  # uuid4().hex
COMMENT_MAX_CHARS = 2000
ROLES = ("user", "assistant")


class Base(DeclarativeBase):
    """Declarative base holding the store's :class:`~sqlalchemy.MetaData`."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class ChatSession(Base):
    """One conversation (``chat_sessions``)."""

    __tablename__ = "chat_sessions"

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    handoff: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False, server_default=false())
    context: Mapped[str] = mapped_column(Text, nullable=False, default="{}", server_default=sql_text("'{}'"))
    channel: Mapped[str] = mapped_column(String(32), nullable=False, default="chat", server_default=sql_text("'chat'"))


class Message(Base):
    """One turn of a conversation (``messages``).

    ``seq`` numbers the messages of a session 1, 2, 3… in insertion order (assigned while the
    session row is locked, unique per session); messages are read back ordered by
    ``created_at`` then ``seq``.
    """

    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("session_id", "seq"),
        CheckConstraint("role IN ('user', 'assistant')", name="role"),
    )

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    session_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("chat_sessions.id", ondelete="CASCADE"), nullable=False, index=True
    )
    seq: Mapped[int] = mapped_column(Integer, nullable=False)
    role: Mapped[str] = mapped_column(String(16), nullable=False)
    text: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    topic: Mapped[str | None] = mapped_column(Text, nullable=True)
    entry_id: Mapped[str | None] = mapped_column(Text, nullable=True)
    abstained: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    confidence: Mapped[float | None] = mapped_column(Float, nullable=True)
    citations: Mapped[str] = mapped_column(Text, nullable=False, default="[]", server_default=sql_text("'[]'"))


class Feedback(Base):
    """A rating (+1 / -1) of one message, with an optional comment (``feedback``)."""

    __tablename__ = "feedback"
    __table_args__ = (CheckConstraint("rating IN (1, -1)", name="rating"),)

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    message_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("messages.id", ondelete="CASCADE"), nullable=False, index=True
    )
    rating: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    comment: Mapped[str | None] = mapped_column(String(COMMENT_MAX_CHARS), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, index=True)


# --- phone calls (voice hotline, migration 0002_calls) --------------------------------------------------------
CALL_OUTCOMES = ("answered", "transferred", "abandoned")


class Call(Base):
    """One phone call (``calls``): channel, provider id, masked caller, outcome (answered/transferred/abandoned)."""

    __tablename__ = "calls"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    channel: Mapped[str] = mapped_column(String(16), nullable=False)
    external_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    caller: Mapped[str | None] = mapped_column(Text, nullable=True)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, index=True)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    outcome: Mapped[str | None] = mapped_column(String(16), nullable=True)
    provider_status: Mapped[str | None] = mapped_column(String(32), nullable=True)
    duration_s: Mapped[int | None] = mapped_column(Integer, nullable=True)
    barge_ins: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default=sql_text("0"))


class CallTurn(Base):
    """One caller turn of a call (``call_turns``): masked transcript, topic, answer, outcome, timings (JSON)."""

    __tablename__ = "call_turns"
    __table_args__ = (UniqueConstraint("call_id", "seq"),)

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    call_id: Mapped[str] = mapped_column(String(64), ForeignKey("calls.id", ondelete="CASCADE"), nullable=False,
                                         index=True)
    seq: Mapped[int] = mapped_column(Integer, nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    transcript: Mapped[str] = mapped_column(Text, nullable=False, default="", server_default=sql_text("''"))
    stt_confidence: Mapped[float | None] = mapped_column(Float, nullable=True)
    topic: Mapped[str | None] = mapped_column(Text, nullable=True)
    entry_id: Mapped[str | None] = mapped_column(Text, nullable=True)
    answer: Mapped[str] = mapped_column(Text, nullable=False, default="", server_default=sql_text("''"))
    outcome: Mapped[str] = mapped_column(String(32), nullable=False, default="", server_default=sql_text("''"))
    timings: Mapped[str] = mapped_column(Text, nullable=False, default="{}", server_default=sql_text("'{}'"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


# --- editor workflow (migration 0003_editor): its tables live in assistant/editor/tables.py, on this metadata ---
import assistant.editor.tables  # noqa: E402,F401  (registers kb_drafts, kb_audit, kb_tokens, kb_inbox_handled)
