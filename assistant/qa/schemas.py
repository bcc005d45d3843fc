"""Data passed between the retrieval parts and returned to callers."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Unit:
    """One searchable text pointing at a target.

    ``kind`` is ``answer`` (target = entry id), ``redirect`` (another agency's procedure) or
    ``out_of_scope`` (chit-chat and unrelated); ``group`` ties the accented and folded forms of one
    example question together (leave-one-out evaluation drops both).
    """

    text: str
    target: str
    kind: str
    topic: str | None
    group: int
    is_question: bool = True


@dataclass
class Citation:
    document: str
    article: str


@dataclass
class ResultItem:
    entry_id: str
    topic: str | None
    score: float
    citations: list[Citation]


@dataclass
class Answer:
    """What the engine says about one question (the ``assistant ask`` contract, ARCHITECTURE §4)."""

    question: str
    abstained: bool
    topic: str | None
    answer: str
    spoken_answer: str
    citations: list[Citation]
    results: list[ResultItem]
    confidence: float
    entry_id: str | None = None
    reason: str = "answered"  # answered | low_confidence | other_agency | out_of_scope | invalid_input
    title: str | None = None
    suggestions: list[str] = field(default_factory=list)
    handoff_offered: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
