"""Records of phone calls: the call, its turns (masked transcript, topic, answer, timings), its outcome.

``CallStore(url)`` shares the chat store's engine settings and migrations (``calls``, ``call_turns``,
migration ``0002``). Every text goes through :func:`assistant.privacy.mask_pii` before it is written
(callers read out ID-card and phone numbers). Methods are blocking; the call core runs them in
threads. A failure to record never ends a call (the core logs it). The caller's number is always
masked, whatever its form (``+84…``, a foreign number, ``client:…``, a SIP URI): :func:`mask_caller`.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, insert, select, update

from assistant.privacy import mask_pii
from assistant.store.engine import make_engine, writer
from assistant.store.migrate import upgrade
from assistant.store.models import CALL_OUTCOMES, Call, CallTurn

_calls = Call.__table__
_turns = CallTurn.__table__
MAX_TEXT = 4000


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return (value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)).isoformat()


def _mask(text: str | None) -> str | None:
    return None if text is None else mask_pii(str(text))[:MAX_TEXT]


def mask_caller(caller: str | None) -> str | None:
    """The caller as stored: a number keeps its last two digits (``[SĐT ***23]``), anything else only its
    scheme (``client:***``, ``sip:***``); a display name is dropped."""
    if caller is None or not str(caller).strip():
        return None
    caller = str(caller).strip()
    bracketed = re.search(r"<([^>]*)>", caller)  # '"Name" <sip:0912…@trunk>;tag=…': the URI, no name
    caller = (bracketed.group(1) if bracketed else caller).split(";", 1)[0].strip()
    scheme, _, rest = caller.partition(":") if re.match(r"^[a-z][a-z0-9+.-]*:", caller, re.I) else ("", "", caller)
    user = rest.split("@", 1)[0]
    digits = re.sub(r"\D", "", user)
    if re.fullmatch(r"[+\d\s().-]+", user) and len(digits) >= 3:
        return f"[SĐT ***{digits[-2:]}]"
    return f"{scheme}:***" if scheme else "***"


class CallStore:
    """Calls and their turns in the assistant's database."""

    def __init__(self, url: str, *, engine=None):
        self.engine = engine or make_engine(url)
        self._writer = writer(self.engine)

    def migrate(self) -> None:
        upgrade(self.engine)

    def dispose(self) -> None:
        self.engine.dispose()

    def start_call(self, call_id: str, *, channel: str, external_id: str | None = None,
                   caller: str | None = None) -> None:
        """Create the call, or adopt the row a status callback created first for ``external_id``
        (it takes the id ``call_id``; its provider status, duration and start time are kept)."""
        with self._writer.begin() as c:
            if c.execute(select(_calls.c.id).where(_calls.c.id == call_id)).first() is not None:
                return
            early = None
            if external_id is not None:
                early = c.execute(select(_calls.c.id, _calls.c.caller)
                                  .where(_calls.c.external_id == external_id, _calls.c.outcome.is_(None))
                                  .order_by(_calls.c.started_at).limit(1)).first()
            if early is not None and not c.execute(select(_turns.c.id).where(_turns.c.call_id == early.id)).first():
                c.execute(update(_calls).where(_calls.c.id == early.id).values(
                    id=call_id, channel=channel, caller=mask_caller(caller) or early.caller))
            else:
                c.execute(insert(_calls).values(id=call_id, channel=channel, external_id=external_id,
                                                caller=mask_caller(caller), started_at=_now()))

    def add_turn(self, call_id: str, turn: Any) -> None:
        """Append one turn (a :class:`voice.call.session.TurnRecord` or a mapping with the same fields)."""
        get = turn.get if isinstance(turn, dict) else lambda k, d=None: getattr(turn, k, d)
        with self._writer.begin() as c:
            seq = c.execute(select(func.coalesce(func.max(_turns.c.seq), 0)).where(_turns.c.call_id == call_id)).scalar()
            c.execute(insert(_turns).values(
                id=uuid.uuid4().hex, call_id=call_id, seq=int(seq) + 1, kind=str(get("kind", "speech"))[:16],
                transcript=_mask(get("transcript", "")) or "", stt_confidence=get("stt_confidence"),
                topic=get("topic"), entry_id=get("entry_id"), answer=_mask(get("answer", "")) or "",
                outcome=str(get("outcome", ""))[:32], timings=json.dumps(get("timings", {}) or {}),
                created_at=_now()))

    def finish_call(self, call_id: str, outcome: str, *, barge_ins: int = 0) -> None:
        if outcome not in CALL_OUTCOMES:
            raise ValueError(f"outcome must be one of {CALL_OUTCOMES}, not {outcome!r}")
        with self._writer.begin() as c:
            c.execute(update(_calls).where(_calls.c.id == call_id)
                      .values(outcome=outcome, ended_at=_now(), barge_ins=barge_ins))

    def record_status(self, external_id: str, status: str, *, duration_s: int | None = None,
                      channel: str = "twilio", caller: str | None = None) -> None:
        """A provider's status callback (e.g. Twilio's ``CallStatus``) for the call ``external_id``."""
        values: dict[str, Any] = {"provider_status": str(status)[:32]}
        if duration_s is not None:
            values["duration_s"] = duration_s
        with self._writer.begin() as c:
            found = c.execute(update(_calls).where(_calls.c.external_id == external_id).values(**values)).rowcount
            if not found:
                c.execute(insert(_calls).values(id=f"{channel}-{external_id}"[:64], channel=channel,
                                                external_id=external_id, caller=mask_caller(caller),
                                                started_at=_now(), **values))

    def list_calls(self, *, limit: int = 50, offset: int = 0, call_id: str | None = None) -> list[dict[str, Any]]:
        """Newest calls first (or just ``call_id``), each with its turns in order."""
        query = select(_calls).order_by(_calls.c.started_at.desc(), _calls.c.id).limit(limit).offset(offset)
        if call_id is not None:
            query = query.where(_calls.c.id == call_id)
        with self.engine.connect() as c:
            calls = c.execute(query).mappings().all()
            ids = [row["id"] for row in calls]
            turns = c.execute(select(_turns).where(_turns.c.call_id.in_(ids))
                              .order_by(_turns.c.call_id, _turns.c.seq)).mappings().all() if ids else []
        by_call: dict[str, list[dict[str, Any]]] = {i: [] for i in ids}
        for t in turns:
            by_call[t["call_id"]].append({
                "seq": t["seq"], "kind": t["kind"], "transcript": t["transcript"],
                "stt_confidence": t["stt_confidence"], "topic": t["topic"], "entry_id": t["entry_id"],
                "answer": t["answer"], "outcome": t["outcome"], "timings": json.loads(t["timings"] or "{}"),
                "created_at": _iso(t["created_at"])})
        return [{"id": row["id"], "channel": row["channel"], "external_id": row["external_id"],
                 "caller": row["caller"], "started_at": _iso(row["started_at"]), "ended_at": _iso(row["ended_at"]),
                 "outcome": row["outcome"], "provider_status": row["provider_status"],
                 "duration_s": row["duration_s"], "barge_ins": row["barge_ins"], "turns": by_call[row["id"]]}
                for row in calls]

    def get_call(self, call_id: str) -> dict[str, Any] | None:
        found = self.list_calls(limit=1, call_id=call_id)
        return found[0] if found else None
