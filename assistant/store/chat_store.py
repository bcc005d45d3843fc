"""The chat store: sessions, messages, dialogue context and feedback in a SQL database.

One :class:`ChatStore` per process, shared by all request threads (the engine's connection pool
is thread-safe). Every write is its own short transaction; every read returns frozen records
(:mod:`assistant.store.records`), never ORM objects.

Personal data: user and assistant texts, feedback comments and the string values of the
dialogue context go through :func:`assistant.privacy.mask_pii` before they are written, so ID-card,
passport and phone numbers never reach the database.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import asdict, is_dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row, func, insert, select, text, update
from sqlalchemy.engine.url import URL
from sqlalchemy.exc import SQLAlchemyError

from assistant.privacy import mask_pii
from assistant.store.engine import make_engine, writer
from assistant.store.migrate import upgrade
from assistant.store.models import COMMENT_MAX_CHARS, ROLES, ChatSession, Feedback, Message
from assistant.store.records import FeedbackRecord, MessageRecord, SessionRecord

log = logging.getLogger(__name__)

_sessions = ChatSession.__table__
_messages = Message.__table__
_feedback = Feedback.__table__
_CITATION_KEYS = ("document", "article", "title")


def _now() -> datetime:
    return datetime.now(UTC)


def _new_id() -> str:
    return uuid.uuid4().hex


def _utc(value: datetime) -> datetime:
    """Timezone-aware UTC (SQLite hands back naive datetimes; they were stored as UTC)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _mask_values(value: Any) -> Any:
    """``value`` with :func:`mask_pii` applied to every string inside it (dict keys excepted)."""
    if isinstance(value, str):
        return mask_pii(value)
    if isinstance(value, Mapping):
        return {k: _mask_values(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_mask_values(v) for v in value]
    return value


def _citation(item: Any) -> dict[str, str | None]:
    """Normalise one citation (a mapping or a dataclass such as ``qa.schemas.Citation``)."""
    if is_dataclass(item) and not isinstance(item, type):
        item = asdict(item)
    if not isinstance(item, Mapping):
        raise TypeError(f"a citation must be a mapping with {_CITATION_KEYS}, not {type(item).__name__}")
    return {k: None if item.get(k) is None else str(item[k]) for k in _CITATION_KEYS}


def _message_record(row: Row[Any]) -> MessageRecord:
    m = row._mapping
    return MessageRecord(
        id=m["id"],
        session_id=m["session_id"],
        role=m["role"],
        text=m["text"],
        created_at=_utc(m["created_at"]),
        topic=m["topic"],
        entry_id=m["entry_id"],
        abstained=None if m["abstained"] is None else bool(m["abstained"]),
        reason=m["reason"],
        confidence=m["confidence"],
        citations=tuple(json.loads(m["citations"] or "[]")),
    )


def _feedback_record(row: Row[Any]) -> FeedbackRecord:
    m = row._mapping
    return FeedbackRecord(
        id=m["id"], message_id=m["message_id"], rating=int(m["rating"]), comment=m["comment"],
        created_at=_utc(m["created_at"]),
    )


#: reasons of assistant messages that did not answer a question (feedback is never about them)
NOT_ANSWERS = ("dialogue", "feedback", "handoff", "clarify")


class ChatStore:
    """Persistent chat sessions for the text channel.

    ``url`` is any SQLAlchemy URL: by default the application passes
    ``sqlite:///<data_dir>/assistant.db``; ``postgresql+psycopg://…`` works too (install the
    driver). Creating the store only creates the engine; call :meth:`migrate` once at start-up
    before using it, and :meth:`dispose` at shutdown.
    """

    def __init__(self, url: str | URL):
        self._engine = make_engine(url)
        self._writer = writer(self._engine)

    @property
    def url(self) -> URL:
        """The database URL (render with ``hide_password=True`` before logging it)."""
        return self._engine.url

    def __repr__(self) -> str:
        return f"ChatStore({self._engine.url.render_as_string(hide_password=True)!r})"

    def __enter__(self) -> ChatStore:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.dispose()

    # -- lifecycle ---------------------------------------------------------------------------

    def migrate(self) -> None:
        """Bring the schema to the newest migration (idempotent; call at every start-up)."""
        upgrade(self._engine)

    def ping(self) -> bool:
        """Whether the database answers ``SELECT 1`` (for a readiness probe; never raises)."""
        try:
            with self._engine.connect() as conn:
                return conn.execute(text("SELECT 1")).scalar() == 1
        except SQLAlchemyError as exc:
            log.warning("chat store ping failed: %s", exc.__class__.__name__)
            return False

    def dispose(self) -> None:
        """Close the pooled connections (the store can still be used; it reconnects on demand)."""
        self._engine.dispose()

    # -- sessions ----------------------------------------------------------------------------

    def create_session(self, channel: str = "chat") -> str:
        """Start a new session on ``channel`` and return its id."""
        if not channel or len(channel) > 32:
            raise ValueError("channel must be 1 to 32 characters")
        session_id, now = _new_id(), _now()
        with self._writer.begin() as conn:
            conn.execute(insert(_sessions).values(
                id=session_id, created_at=now, updated_at=now, handoff=False, context="{}", channel=channel,
            ))
        return session_id

    def get_session(self, session_id: str, *, with_messages: bool = True) -> SessionRecord | None:
        """The session with its messages (by ``created_at``, then insertion), or ``None``.

        ``with_messages=False`` reads the session row only (a chat turn needs no history).
        """
        with self._engine.begin() as conn:  # one read transaction: session and messages agree
            row = conn.execute(select(_sessions).where(_sessions.c.id == session_id)).first()
            if row is None:
                return None
            rows = conn.execute(
                select(_messages).where(_messages.c.session_id == session_id)
                .order_by(_messages.c.created_at, _messages.c.seq)
            ).all() if with_messages else []
        m = row._mapping
        return SessionRecord(
            id=m["id"], created_at=_utc(m["created_at"]), updated_at=_utc(m["updated_at"]),
            handoff=bool(m["handoff"]), channel=m["channel"], context=json.loads(m["context"] or "{}"),
            messages=tuple(_message_record(r) for r in rows),
        )

    def get_context(self, session_id: str) -> dict[str, Any]:
        """The dialogue context of a session (``{}`` until set). Unknown session → ``KeyError``."""
        with self._engine.connect() as conn:
            raw = conn.execute(select(_sessions.c.context).where(_sessions.c.id == session_id)).scalar()
        if raw is None:
            raise KeyError(session_id)
        return json.loads(raw)

    def set_context(self, session_id: str, context: Mapping[str, Any]) -> None:
        """Replace the dialogue context (JSON-serialisable; strings are PII-masked).

        Unknown session → ``KeyError``; a value JSON cannot encode → ``TypeError``.
        """
        payload = json.dumps(_mask_values(dict(context)), ensure_ascii=False)
        self._update_session(session_id, context=payload)

    def set_handoff(self, session_id: str, handoff: bool = True) -> None:
        """Mark (or unmark) the session as needing an officer. Unknown session → ``KeyError``."""
        self._update_session(session_id, handoff=bool(handoff))

    def _update_session(self, session_id: str, **values: Any) -> None:
        with self._writer.begin() as conn:
            result = conn.execute(
                update(_sessions).where(_sessions.c.id == session_id).values(updated_at=_now(), **values)
            )
            if result.rowcount == 0:
                raise KeyError(session_id)

    # -- messages ----------------------------------------------------------------------------

    def add_message(
        self,
        session_id: str,
        role: str,
        text: str,
        *,
        topic: str | None = None,
        entry_id: str | None = None,
        abstained: bool | None = None,
        reason: str | None = None,
        confidence: float | None = None,
        citations: Iterable[Mapping[str, Any]] | None = None,
    ) -> MessageRecord:
        """Append a message (text PII-masked) and bump the session's ``updated_at``.

        ``role`` is ``"user"`` or ``"assistant"`` (else ``ValueError``); ``citations`` are
        ``{"document", "article", "title"}`` mappings (``title`` optional). Unknown session →
        ``KeyError``.
        """
        if role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}, not {role!r}")
        if not isinstance(text, str):
            raise TypeError("text must be a str")
        cites = tuple(_citation(c) for c in (citations or ()))
        values: dict[str, Any] = {
            "id": _new_id(), "session_id": session_id, "role": role, "text": mask_pii(text),
            "topic": topic, "entry_id": entry_id, "abstained": None if abstained is None else bool(abstained),
            "reason": reason, "confidence": None if confidence is None else float(confidence),
            "citations": json.dumps(list(cites), ensure_ascii=False),
        }
        with self._writer.begin() as conn:
            # Updating the session row first locks it (SQLite: the whole database, PostgreSQL: the
            # row), so the seq and timestamp below are assigned one writer at a time.
            now = _now()
            result = conn.execute(update(_sessions).where(_sessions.c.id == session_id).values(updated_at=now))
            if result.rowcount == 0:
                raise KeyError(session_id)
            last = conn.execute(
                select(func.coalesce(func.max(_messages.c.seq), 0)).where(_messages.c.session_id == session_id)
            ).scalar_one()
            values.update(seq=int(last) + 1, created_at=now)
            conn.execute(insert(_messages).values(**values))
        return MessageRecord(
            id=values["id"], session_id=session_id, role=role, text=values["text"], created_at=now, topic=topic,
            entry_id=entry_id, abstained=values["abstained"], reason=reason, confidence=values["confidence"],
            citations=cites,
        )

    def last_answer_id(self, session_id: str, *, before: str | None = None) -> str | None:
        """The id of the session's latest assistant message that answered a question (not a greeting,
        prompt, clarifying question, hand-off or thanks for feedback), older than message ``before``."""
        query = (select(_messages.c.id).where(_messages.c.session_id == session_id, _messages.c.role == "assistant",
                                              _messages.c.reason.not_in(NOT_ANSWERS))
                 .order_by(_messages.c.seq.desc()).limit(1))
        with self._engine.connect() as conn:
            if before is not None:
                seq = conn.execute(select(_messages.c.seq).where(_messages.c.id == before)).scalar()
                if seq is not None:
                    query = query.where(_messages.c.seq < seq)
            return conn.execute(query).scalar()

    def get_message(self, message_id: str) -> MessageRecord | None:
        """One message by id, or ``None``."""
        with self._engine.connect() as conn:
            row = conn.execute(select(_messages).where(_messages.c.id == message_id)).first()
        return None if row is None else _message_record(row)

    # -- feedback ----------------------------------------------------------------------------

    def add_feedback(self, message_id: str, rating: int, comment: str | None = None) -> FeedbackRecord:
        """Record a rating (``1`` or ``-1``, else ``ValueError``) of a message (missing → ``KeyError``).

        ``comment`` is optional, at most 2000 characters (else ``ValueError``), stripped and
        PII-masked; a blank comment is stored as ``None``. A masked comment that grew past the
        limit (placeholders are longer than some numbers) is cut to 2000 characters.
        """
        if isinstance(rating, bool) or not isinstance(rating, int) or rating not in (1, -1):
            raise ValueError(f"rating must be 1 or -1, not {rating!r}")
        if comment is not None:
            if not isinstance(comment, str):
                raise TypeError("comment must be a str")
            if len(comment) > COMMENT_MAX_CHARS:
                raise ValueError(f"comment is longer than {COMMENT_MAX_CHARS} characters")
            comment = mask_pii(comment.strip())[:COMMENT_MAX_CHARS] or None
        record = FeedbackRecord(id=_new_id(), message_id=message_id, rating=rating, comment=comment,
                                created_at=_now())
        with self._writer.begin() as conn:
            exists = conn.execute(select(_messages.c.id).where(_messages.c.id == message_id)).first()
            if exists is None:
                raise KeyError(message_id)
            conn.execute(insert(_feedback).values(
                id=record.id, message_id=message_id, rating=rating, comment=comment, created_at=record.created_at,
            ))
        return record

    def recent_feedback(self, limit: int = 100) -> list[FeedbackRecord]:
        """The ``limit`` most recent feedback records, newest first."""
        if limit < 1:
            raise ValueError("limit must be at least 1")
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(_feedback).order_by(_feedback.c.created_at.desc(), _feedback.c.id).limit(limit)
            ).all()
        return [_feedback_record(r) for r in rows]
