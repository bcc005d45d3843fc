"""Plain, immutable records returned by :class:`~assistant.store.ChatStore`.

No ORM object ever leaves the store: callers get these frozen dataclasses, safe to pass between
threads, cache, or turn into API responses (``dataclasses.asdict`` works on all of them).
All timestamps are timezone-aware UTC datetimes; ids are uuid4 hex strings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class MessageRecord:
    """One chat turn, as stored (``text`` is already PII-masked).

    ``citations`` holds ``{"document", "article", "title"}`` dicts (``title`` may be ``None``);
    ``topic``, ``entry_id``, ``abstained``, ``reason`` and ``confidence`` are ``None`` for user
    messages and whatever the engine reported for assistant messages.
    """

    id: str
    session_id: str
    role: str
    text: str
    created_at: datetime
    topic: str | None = None
    entry_id: str | None = None
    abstained: bool | None = None
    reason: str | None = None
    confidence: float | None = None
    citations: tuple[dict[str, str | None], ...] = ()


@dataclass(frozen=True)
class SessionRecord:
    """A chat session with its messages, oldest first.

    ``context`` is the dialogue state the application keeps between turns (a fresh copy: changing
    it does not change the store; use :meth:`ChatStore.set_context`). ``handoff`` is true once an
    officer should take over.
    """

    id: str
    created_at: datetime
    updated_at: datetime
    handoff: bool
    channel: str
    context: dict[str, Any] = field(default_factory=dict)
    messages: tuple[MessageRecord, ...] = ()


@dataclass(frozen=True)
class FeedbackRecord:
    """A citizen's rating of one message: ``rating`` is ``1`` (helpful) or ``-1`` (not helpful)."""

    id: str
    message_id: str
    rating: int
    comment: str | None
    created_at: datetime
