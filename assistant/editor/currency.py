"""Legal currency: which entries cite law that was replaced, expired or amended.

The registry (``knowledge_base/documents.yaml``) gives each document a status. A citation of a
``superseded`` or ``expired`` document is *stale* while the entry was not reviewed after the successor
took effect (:func:`assistant.kb.loader.is_stale_citation`, the rule ``assistant kb validate`` warns
about); once reviewed since, it stays listed as *historical* (entries may explain the former rule).
A citation of an amended document is noted so editors check the amending text, and counts as
stale when an amending document took effect after the entry's last review.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from assistant.kb.loader import is_stale_citation
from assistant.kb.schema import DocumentStatus, Entry, LegalDocument

REPLACED = (DocumentStatus.superseded, DocumentStatus.expired)


@dataclass(frozen=True)
class CitationFlag:
    """One flagged citation of an entry."""

    document: str
    status: str
    replaced_by: list[str]
    stale: bool
    message: str

    def as_dict(self) -> dict:
        return asdict(self)


def flags(entry: Entry, documents: dict[str, LegalDocument]) -> list[CitationFlag]:
    """Flags for the documents an entry cites (each document once)."""
    out: list[CitationFlag] = []
    for number in dict.fromkeys(lb.document for lb in entry.legal_basis):
        doc = documents.get(number)
        if doc is None:
            out.append(CitationFlag(number, "unknown", [], True, f"{number} chưa có trong sổ đăng ký văn bản"))
        elif doc.status in REPLACED:
            stale = is_stale_citation(documents, number, entry.reviewed_at)
            by = ", ".join(doc.superseded_by) or "?"
            word = "bị thay thế" if doc.status is DocumentStatus.superseded else "hết hiệu lực"
            msg = (f"{number} đã {word} (bởi {by}); mục chưa được rà soát từ khi văn bản mới có hiệu lực"
                   if stale else f"{number} đã {word} (bởi {by}); mục đã rà soát, trích dẫn để giải thích quy định cũ")
            out.append(CitationFlag(number, doc.status.value, list(doc.superseded_by), stale, msg))
        elif doc.status is DocumentStatus.amended or doc.amended_by:
            later = amended_since(documents, number, entry.reviewed_at)
            by = ", ".join(later or doc.amended_by) or "?"
            msg = (f"{number} được sửa đổi bởi {by} có hiệu lực sau lần rà soát cuối của mục: kiểm tra lại" if later
                   else f"{number} đã được sửa đổi, bổ sung bởi {by}: kiểm tra điều khoản đang trích")
            out.append(CitationFlag(number, "amended", list(doc.amended_by), bool(later), msg))
    return out


def amended_since(documents: dict[str, LegalDocument], number: str, reviewed_at) -> list[str]:
    """Amending documents of ``number`` that took effect after the entry was last reviewed."""
    doc = documents.get(number)
    if doc is None:
        return []
    out = []
    for other in doc.amended_by:
        amending = documents.get(other)
        if amending is not None and amending.effective_from is not None and reviewed_at < amending.effective_from:
            out.append(other)
    return out


def stale(entry: Entry, documents: dict[str, LegalDocument]) -> bool:
    return any(f.stale for f in flags(entry, documents))


def report(entries: list[Entry], documents: dict[str, LegalDocument]) -> dict[str, list[CitationFlag]]:
    """Entry id → flags of replaced law (stale or historical); amended-only entries are left out."""
    out = {}
    for e in entries:
        found = [f for f in flags(e, documents) if f.status in ("superseded", "expired", "unknown")]
        if found:
            out[e.id] = found
    return out
