"""Drafts, audit events, admin-created tokens and handled inbox items in the app's database.

Same conventions as :class:`assistant.store.ChatStore`: one short transaction per call, SQLite
writes with ``BEGIN IMMEDIATE`` (``writer``), plain dicts out.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from assistant.editor.tables import AuditEvent, Draft, EditorToken, InboxHandled
from assistant.store.engine import make_engine, writer
from assistant.store.migrate import upgrade

_drafts = Draft.__table__
_audit = AuditEvent.__table__
_tokens = EditorToken.__table__
_handled = InboxHandled.__table__


class Conflict(Exception):
    """The draft changed since the client read it (optimistic locking)."""


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.isoformat(timespec="seconds")


def _draft(row) -> dict[str, Any]:
    return {"entry_id": row.entry_id, "data": json.loads(row.data), "rev": row.rev, "base": row.base,
            "state": row.state, "complete": row.complete, "origin": row.origin, "created_by": row.created_by,
            "updated_by": row.updated_by, "created_at": _iso(row.created_at), "updated_at": _iso(row.updated_at)}


class EditorStore:
    def __init__(self, url):
        self._engine = make_engine(url)
        self._writer = writer(self._engine)

    def migrate(self) -> None:
        upgrade(self._engine)

    def dispose(self) -> None:
        self._engine.dispose()

    # -- drafts ------------------------------------------------------------------------------
    def draft(self, entry_id: str, *, open_only: bool = True) -> dict[str, Any] | None:
        q = select(_drafts).where(_drafts.c.entry_id == entry_id)
        with self._engine.connect() as conn:
            row = conn.execute(q).first()
        if row is None or (open_only and row.state != "open"):
            return None
        return _draft(row)

    def open_drafts(self) -> list[dict[str, Any]]:
        with self._engine.connect() as conn:
            rows = conn.execute(select(_drafts).where(_drafts.c.state == "open").order_by(_drafts.c.updated_at)).all()
        return [_draft(r) for r in rows]

    def save_draft(self, entry_id: str, data: dict[str, Any], *, base: str, actor: str, complete: bool = True,
                   expect_rev: int | None = None, origin: str = "editor", create_only: bool = False) -> dict[str, Any]:
        """Insert or update the open draft of ``entry_id``; ``expect_rev`` is the rev the client edited
        (``0``: no open draft); a mismatch raises :class:`Conflict`."""
        now = _now()
        with self._writer.begin() as conn:
            row = conn.execute(select(_drafts).where(_drafts.c.entry_id == entry_id)).first()
            open_rev = row.rev if row is not None and row.state == "open" else 0
            if create_only and open_rev:
                raise Conflict(entry_id)
            if expect_rev is not None and expect_rev != (row.rev if row is not None else 0):
                raise Conflict(entry_id)
            values = {"data": json.dumps(data, ensure_ascii=False), "base": base, "state": "open",
                      "complete": complete, "updated_by": actor, "updated_at": now}
            if row is None:
                conn.execute(insert(_drafts).values(entry_id=entry_id, rev=1, origin=origin, created_by=actor,
                                                    created_at=now, **values))
            else:
                if not open_rev:
                    values.update(origin=origin, created_by=actor, created_at=now)
                conn.execute(update(_drafts).where(_drafts.c.entry_id == entry_id).values(rev=row.rev + 1, **values))
            saved = conn.execute(select(_drafts).where(_drafts.c.entry_id == entry_id)).one()
        return _draft(saved)

    def close_draft(self, entry_id: str, state: str, *, rev: int | None = None) -> bool:
        """Mark the open draft ``published`` or ``discarded`` (only at ``rev`` when given)."""
        q = update(_drafts).where(_drafts.c.entry_id == entry_id, _drafts.c.state == "open")
        if rev is not None:
            q = q.where(_drafts.c.rev == rev)
        with self._writer.begin() as conn:
            return conn.execute(q.values(state=state, updated_at=_now())).rowcount > 0

    # -- audit -------------------------------------------------------------------------------
    def audit(self, actor, action: str, *, entry_id: str | None = None, version: str | None = None,
              diff: str = "", detail: dict[str, Any] | None = None) -> None:
        with self._writer.begin() as conn:
            conn.execute(insert(_audit).values(at=_now(), actor=actor.name, role=actor.role, action=action,
                                               entry_id=entry_id, version=version, diff=diff,
                                               detail=json.dumps(detail or {}, ensure_ascii=False)))

    def audit_events(self, *, entry_id: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Newest first. With ``entry_id``: events about that entry, including publishes and rollbacks
        that list it in ``detail.entries``."""
        q = select(_audit).order_by(_audit.c.id.desc()).limit(limit)
        if entry_id:
            escaped = entry_id.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            q = q.where(or_(_audit.c.entry_id == entry_id,
                            _audit.c.detail.like(f'%"{escaped}"%', escape="\\")))
        with self._engine.connect() as conn:
            rows = conn.execute(q).all()
        out = [{"id": r.id, "at": _iso(r.at), "actor": r.actor, "role": r.role, "action": r.action,
                "entry_id": r.entry_id, "version": r.version, "diff": r.diff, "detail": json.loads(r.detail)}
               for r in rows]
        if entry_id:  # the LIKE above may also match the id quoted elsewhere in the detail
            out = [e for e in out if e["entry_id"] == entry_id or entry_id in (e["detail"].get("entries") or [])]
        return out

    # -- tokens ------------------------------------------------------------------------------
    def add_token(self, digest: str, role: str, name: str, created_by: str) -> None:
        with self._writer.begin() as conn:
            conn.execute(insert(_tokens).values(digest=digest, role=role, name=name, created_by=created_by,
                                                created_at=_now()))

    def tokens(self) -> list[dict[str, Any]]:
        with self._engine.connect() as conn:
            rows = conn.execute(select(_tokens).order_by(_tokens.c.created_at)).all()
        return [{"fingerprint": r.digest[:12], "digest": r.digest, "role": r.role, "name": r.name,
                 "created_by": r.created_by, "created_at": _iso(r.created_at)} for r in rows]

    def token(self, digest: str) -> dict[str, Any] | None:
        """The stored token with this digest (``{role, name}``), read now: revocations in any process count."""
        with self._engine.connect() as conn:
            row = conn.execute(select(_tokens.c.role, _tokens.c.name).where(_tokens.c.digest == digest)).first()
        return None if row is None else {"role": row.role, "name": row.name}

    def remove_token(self, fingerprint: str) -> str | None:
        for t in self.tokens():
            if t["fingerprint"] == fingerprint:
                with self._writer.begin() as conn:
                    conn.execute(delete(_tokens).where(_tokens.c.digest == t["digest"]))
                return t["digest"]
        return None

    # -- inbox -------------------------------------------------------------------------------
    def claim_inbox(self, message_ids: list[str], entry_id: str) -> list[str]:
        """Mark the messages handled by ``entry_id``; those this call claimed (not handled before).

        One write transaction, so two editors turning the same group into drafts at once cannot both
        claim a message (SQLite serialises writers; elsewhere the primary key refuses the second).
        """
        now = _now()
        try:
            with self._writer.begin() as conn:
                done = set(conn.execute(select(_handled.c.message_id)
                                        .where(_handled.c.message_id.in_(message_ids))).scalars())
                claimed = [m for m in dict.fromkeys(message_ids) if m not in done]
                if claimed:
                    conn.execute(insert(_handled), [{"message_id": m, "entry_id": entry_id, "at": now} for m in claimed])
        except IntegrityError:
            return []
        return claimed

    def release_inbox(self, message_ids: list[str]) -> None:
        """Undo :meth:`claim_inbox` (the draft could not be made)."""
        with self._writer.begin() as conn:
            conn.execute(delete(_handled).where(_handled.c.message_id.in_(message_ids)))

    def handled_ids(self) -> set[str]:
        with self._engine.connect() as conn:
            return set(conn.execute(select(_handled.c.message_id)).scalars())

    @property
    def engine(self):
        return self._engine
