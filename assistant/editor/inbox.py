"""The unanswered inbox: questions the assistant declined or whose answer got a thumbs-down.

Each item is a citizen's question (the user message before the assistant's reply), with why it is
here (``low_confidence``, ``out_of_scope`` or ``thumbs_down``). Items are grouped by meaning:
average-linkage agglomerative clustering of the embeddings of their unaccented text
(``engine.similar_vectors``) cut at
cosine similarity ``editor_inbox_similarity``. A group can become a new draft prefilled with its
questions (:func:`draft_from_questions`); its messages then leave the inbox.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections import Counter
from typing import Any

import numpy as np
from sqlalchemy import and_, or_, select

from assistant.editor.tables import InboxHandled
from assistant.kb.schema import TOPICS
from assistant.privacy import mask_pii
from assistant.store.models import Feedback, Message
from assistant.text import fold, has_diacritics

DECLINED_REASONS = ("low_confidence", "out_of_scope")
MAX_ITEMS = 500
EXAMPLES = 5


def unanswered(db_engine, *, only: list[str] | None = None, limit: int = MAX_ITEMS) -> list[dict[str, Any]]:
    """Newest declined or thumbs-down turns not yet handled, as ``{message_id, question, reason, topic, at}``.

    Handled messages are left out in the query, before the ``limit`` (else 500 handled ones would
    hide every new one); ``only`` restricts to those message ids. The question is PII-masked again
    (messages are masked when stored; this also covers rows written before masking existed).
    """
    reply = Message.__table__
    asked = Message.__table__.alias("asked")
    fb = Feedback.__table__
    handled = InboxHandled.__table__
    down = select(fb.c.message_id).where(fb.c.rating == -1)
    q = (select(reply.c.id, reply.c.reason, reply.c.topic, reply.c.created_at, asked.c.text,
                reply.c.id.in_(down).label("thumbs_down"))
         .join(asked, and_(asked.c.session_id == reply.c.session_id, asked.c.seq == reply.c.seq - 1,
                           asked.c.role == "user"))
         .where(reply.c.role == "assistant",
                or_(and_(reply.c.abstained.is_(True), reply.c.reason.in_(DECLINED_REASONS)), reply.c.id.in_(down)),
                reply.c.id.not_in(select(handled.c.message_id)))
         .order_by(reply.c.created_at.desc()).limit(limit))
    if only is not None:
        q = q.where(reply.c.id.in_(only))
    with db_engine.connect() as conn:
        rows = conn.execute(q).all()
    return [{"message_id": r.id, "question": mask_pii(r.text), "reason": "thumbs_down" if r.thumbs_down else r.reason,
             "topic": r.topic, "at": r.created_at.isoformat(timespec="seconds") if r.created_at else None}
            for r in rows]


def cluster(vectors: np.ndarray, similarity: float) -> list[int]:
    """A cluster label per row: average linkage on cosine distance, cut at ``1 - similarity``."""
    n = len(vectors)
    if n <= 1:
        return [0] * n
    from scipy.cluster.hierarchy import fcluster, linkage

    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-9)
    tree = linkage(unit, method="average", metric="cosine")
    return [int(x) for x in fcluster(tree, t=1.0 - similarity, criterion="distance")]


def group(items: list[dict[str, Any]], vectors: np.ndarray, similarity: float) -> list[dict[str, Any]]:
    """Groups of similar items, biggest (then most recent) first, with counts and examples."""
    labels = cluster(vectors, similarity)
    members: dict[int, list[int]] = {}
    for i, label in enumerate(labels):
        members.setdefault(label, []).append(i)
    groups = []
    for idx in members.values():
        rows = [items[i] for i in idx]
        centre = vectors[idx].mean(axis=0)
        best = idx[int(np.argmax(vectors[idx] @ centre))]
        questions = list(dict.fromkeys(r["question"] for r in rows))
        topics = Counter(r["topic"] for r in rows if r["topic"] in TOPICS)
        ids = sorted(r["message_id"] for r in rows)
        groups.append({
            "id": hashlib.sha1("\0".join(ids).encode()).hexdigest()[:12],
            "count": len(rows),
            "label": items[best]["question"],
            "examples": questions[:EXAMPLES],
            "questions": questions,
            "message_ids": ids,
            "reasons": dict(Counter(r["reason"] for r in rows)),
            "topic": topics.most_common(1)[0][0] if topics else None,
            "last_seen": max((r["at"] or "") for r in rows),
        })
    groups.sort(key=lambda g: g["last_seen"], reverse=True)
    return sorted(groups, key=lambda g: -g["count"])


def slug(text: str, limit: int = 48) -> str:
    words = re.sub(r"[^a-z0-9]+", " ", fold(text).lower()).split()
    out = ""
    for w in words:
        if len(out) + len(w) + 1 > limit:
            break
        out = f"{out}_{w}" if out else w
    return out or "moi"


def draft_from_questions(questions: list[str], topic: str, taken: set[str]) -> dict[str, Any]:
    """A new (incomplete) entry prefilled with ``questions``; its unaccented variants are added too."""
    if topic not in TOPICS:
        raise ValueError(f"chủ đề không hợp lệ {topic!r}")
    questions = list(dict.fromkeys(q.strip() for q in questions if q.strip()))[:30]
    title = questions[0].rstrip("?").strip().capitalize() if questions else "Câu hỏi mới"
    base = f"{topic}_{slug(title)}"
    entry_id, n = base, 2
    while entry_id in taken:
        entry_id, n = f"{base}_{n}", n + 1
    extra = [fold(q) for q in questions if has_diacritics(q) and fold(q) not in questions]
    unaccented = sum(1 for q in questions if not has_diacritics(q))
    questions += list(dict.fromkeys(extra))[: max(0, 2 - unaccented)]
    today = dt.date.today().isoformat()
    return {"id": entry_id, "topic": topic, "title": title, "questions": questions, "answer": "",
            "spoken_answer": "", "legal_basis": [], "effective_from": today, "reviewed_at": today, "status": "draft"}
