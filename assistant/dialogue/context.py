"""Multi-turn context for retrieval-only dialogue: follow-ups and requests for a human.

A follow-up such as "còn tạm trú thì sao?" after a question about thường trú, or "thế còn cho con
tôi?" after one about căn cước, is rewritten into a standalone question using the previous one:
when the follow-up names a sibling of a subject in the previous question (tạm trú for thường trú,
ô tô for xe máy, cấp lại for cấp đổi…) the subject is swapped; otherwise the follow-up's words are
added to the previous question.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from assistant.text import fold

#: subjects that replace one another in a follow-up (folded forms)
SIBLINGS: tuple[tuple[str, ...], ...] = (
    ("thuong tru", "tam tru", "luu tru", "tam vang", "tach ho"),
    ("xe may", "o to", "xe mo to", "xe oto", "xe dap dien"),
    ("cap moi", "cap doi", "cap lai", "lam lai", "gia han"),
    ("so 1", "so 2"),
    ("ho chieu", "giay thong hanh"),
    ("can cuoc", "ho chieu", "giay phep lai xe", "bang lai"),
)
_LEADING = re.compile(r"^(?:(?:the|vay|the thi|con|nhung|nhu|va|neu|con neu|vay con|the con|thi)\s+)+")
_TRAILING = re.compile(r"(?:\s+(?:thi sao|the nao|ra sao|nhu the nao|thi the nao|sao|nhi|a|vay|ha|the))+$")
_FOLLOW_UP = re.compile(r"^(?:the con|vay con|con|the thi|con neu|nhung neu|neu la)\b|\b(?:thi sao|the nao)$")
_HUMAN = re.compile(
    r"\b(?:gap|noi chuyen voi|ket noi|chuyen (?:may )?(?:cho|sang|den)?|can|muon gap|goi)\s*"
    r"(?:voi\s+)?(?:can bo|nguoi that|nhan vien|tong dai vien|dien thoai vien|nguoi)\b"
)

_PROCEDURE_HINT = re.compile(r"\b(?:o dau|de lam|thu tuc|ho so|giay to|le phi)\b")


@dataclass(frozen=True)
class Turn:
    """What the dialogue remembers of the previous answered turn."""

    question: str
    topic: str | None
    entry_id: str | None


def is_follow_up(question: str) -> bool:
    f = fold(question)
    return bool(_FOLLOW_UP.search(f)) and len(f.split()) <= 10


def wants_human(question: str) -> bool:
    """Citizen asks for an officer / a real person (not a procedure question that mentions one)."""
    f = fold(question)
    return bool(_HUMAN.search(f)) and len(f.split()) <= 10 and not _PROCEDURE_HINT.search(f)


def _core(question: str) -> str:
    f = fold(question)
    f = _LEADING.sub("", f)
    return _TRAILING.sub("", f).strip()


def rewrite(question: str, previous: Turn | None) -> str | None:
    """A standalone version of a follow-up question, or None when there is nothing to rewrite."""
    if previous is None:
        return None
    core = _core(question)
    if not core:
        return None
    prev = fold(previous.question)
    for group in SIBLINGS:
        new = next((s for s in group if re.search(rf"\b{s}\b", core)), None)
        old = next((s for s in group if s != new and re.search(rf"\b{s}\b", prev)), None)
        if new and old:
            swapped = re.sub(rf"\b{old}\b", new, prev)
            rest = re.sub(rf"\b{new}\b", "", core).strip()
            return f"{swapped} {rest}".strip()
    return f"{prev} {core}"
