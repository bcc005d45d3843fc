"""A plain keyword matcher, the baseline the engine must clearly beat.

Counts topic keywords in the accent-folded question and returns the topic with most hits (None when
nothing matches). No learning, no corpus: it shows what the task looks like without retrieval.
"""

from __future__ import annotations

from assistant.text import fold

KEYWORDS: dict[str, tuple[str, ...]] = {
    # the names of the procedures and documents, as a citizen would type them; nothing learned
    "cu_tru": ("thuong tru", "tam tru", "luu tru", "tam vang", "cu tru", "ho khau"),
    "can_cuoc": ("can cuoc", "chung minh nhan dan", "dinh danh", "vneid"),
    "giay_phep_lai_xe": ("giay phep lai xe", "bang lai"),
    "dang_ky_xe": ("dang ky xe", "bien so", "sang ten"),
    "xuat_nhap_canh": ("ho chieu", "xuat canh", "nhap canh"),
    "ly_lich_tu_phap": ("ly lich tu phap",),
}


def keyword_topic(question: str) -> str | None:
    text = f" {fold(question)} "
    hits = {t: sum(text.count(f" {k} ") + text.count(f" {k}") for k in kws) for t, kws in KEYWORDS.items()}
    best = max(hits, key=lambda t: hits[t])
    return best if hits[best] > 0 else None
