"""Vietnamese text normalisation for matching questions to answers.

``normalize`` gives the canonical accented form (for the embedding model); ``fold`` the accent-free
form; ``lexical_terms`` the syllables and syllable bigrams of the folded form (for BM25). Display text
is never changed: these forms are only for matching.
"""

from __future__ import annotations

import re
import unicodedata

from assistant.text.abbreviations import ABBREVIATIONS, MAX_KEY_TOKENS
from assistant.text.tones import place_tones

# letters that look like Vietnamese ones but are other code points
_LOOKALIKES = str.maketrans({"Ð": "Đ", "ð": "đ", "Ɖ": "Đ", "ɖ": "đ", "\u00a0": " ", "’": "'", "‘": "'"})
_DATE = re.compile(r"\b(\d{1,2})\s*[/.-]\s*(\d{1,2})\s*[/.-]\s*(\d{4})\b")
_DAY_MONTH = re.compile(r"\b(\d{1,2})\s*/\s*(\d{1,2})\b")
_SPELLED_DATE = re.compile(r"\bngày\s+(\d{1,2})\s+tháng\s+(\d{1,2})(?:\s+năm\s+(\d{4}))?")
_THOUSANDS = re.compile(r"\b(\d{1,3})(?:[.,](\d{3}))+(?![\d.,]\d)")
_CURRENCY = re.compile(r"(\d)\s*(?:đ|đồng|vnd|vnđ|dong)\b")
_MONEY_SHORT = re.compile(r"\b(\d+)\s*(k|nghìn|ngàn)\b")
_MILLION_SHORT = re.compile(r"\b(\d+)\s*(tr|triệu)\b")
_LEADING_ZERO = re.compile(r"\b0+(\d)")
_NON_WORD = re.compile(r"[^\w/]+", re.UNICODE)
_SPACES = re.compile(r"\s+")


def _expand_abbreviations(tokens: list[str]) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(tokens):
        for n in range(min(MAX_KEY_TOKENS, len(tokens) - i), 0, -1):
            key = " ".join(tokens[i : i + n])
            if key in ABBREVIATIONS:
                out.extend(ABBREVIATIONS[key].split())
                i += n
                break
        else:
            out.append(tokens[i])
            i += 1
    return out


def _normalize_numbers(text: str) -> str:
    text = _SPELLED_DATE.sub(lambda m: f"{m[1]}/{m[2]}" + (f"/{m[3]}" if m[3] else ""), text)
    text = _DATE.sub(lambda m: f"{int(m[1])}/{int(m[2])}/{m[3]}", text)
    text = _DAY_MONTH.sub(lambda m: f"{int(m[1])}/{int(m[2])}", text)
    text = _THOUSANDS.sub(lambda m: m[0].replace(".", "").replace(",", ""), text)
    text = _CURRENCY.sub(r"\1 đồng", text)
    text = _MONEY_SHORT.sub(lambda m: f"{m[1]}000", text)
    text = _MILLION_SHORT.sub(lambda m: f"{m[1]} triệu", text)
    return _LEADING_ZERO.sub(r"\1", text)


def clean(text: str) -> str:
    """NFC, look-alike letters fixed, control characters dropped, whitespace collapsed."""
    text = unicodedata.normalize("NFC", text).translate(_LOOKALIKES)
    text = "".join(ch if unicodedata.category(ch)[0] != "C" else " " for ch in text)
    return _SPACES.sub(" ", text).strip()


def normalize(text: str) -> str:
    """Canonical accented form: lower case, canonical tones, abbreviations expanded, no punctuation."""
    text = place_tones(clean(text).lower())
    text = _normalize_numbers(text)
    text = _NON_WORD.sub(" ", text).replace("_", " ")
    tokens = [t.strip("/") for t in text.split()]
    return " ".join(_expand_abbreviations([t for t in tokens if t]))


def strip_accents(text: str) -> str:
    """Remove every diacritic and map đ to d, keeping case."""
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    return unicodedata.normalize("NFC", "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn"))


def fold(text: str) -> str:
    """Accent-free normalised form, e.g. ``"Làm CCCD ở đâu?"`` → ``"lam can cuoc cong dan o dau"``."""
    return strip_accents(normalize(text))


def has_diacritics(text: str) -> bool:
    return strip_accents(text) != text


def syllables(text: str) -> list[str]:
    """Folded syllables of a text."""
    return fold(text).split()


def lexical_terms(text: str) -> list[str]:
    """Folded syllables plus syllable bigrams (``"tam_tru"``), the vocabulary of the lexical index."""
    syl = syllables(text)
    return syl + [f"{a}_{b}" for a, b in zip(syl, syl[1:])]


def has_letters(text: str) -> bool:
    """True when a text contains at least one letter or digit (not only emoji or punctuation)."""
    return any(ch.isalnum() for ch in text)
