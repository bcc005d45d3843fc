"""Canonical Vietnamese tone-mark placement.

The same syllable is written with its tone mark in different places: ``hoà``/``hòa``,
``thuỷ``/``thủy``, ``khoẻ``/``khỏe``, ``qúy``/``quý``. Users, keyboards and official texts mix both
styles, so every text goes through :func:`place_tones`, which moves the mark to one canonical place
(the traditional style: ``hòa``, ``thủy``, ``khỏe``, ``quý``). Only the position changes; letters
and the tone itself are kept.
"""

from __future__ import annotations

import re
import unicodedata

#: combining characters of the five tones (huyền, sắc, hỏi, ngã, nặng)
TONE_MARKS = {"\u0300", "\u0301", "\u0309", "\u0303", "\u0323"}
_VOWELS = set("aăâeêioôơuưy")
#: vowels carrying a circumflex, breve or horn take the tone in preference to plain ones
_MARKED_VOWELS = set("ăâêôơư")
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)


def _split_tone(word: str) -> tuple[str, str | None]:
    """Return the word without its tone mark (NFC) and the tone's combining character."""
    tone = None
    kept = []
    for ch in unicodedata.normalize("NFD", word):
        if ch in TONE_MARKS:
            tone = ch
        else:
            kept.append(ch)
    return unicodedata.normalize("NFC", "".join(kept)), tone


def _vowel_span(base: str) -> tuple[int, int] | None:
    """Start and end (exclusive) of the syllable's vowel nucleus in a lower-case, toneless word."""
    start = None
    for i, ch in enumerate(base):
        if ch in _VOWELS:
            start = i
            break
    if start is None:
        return None
    end = start
    while end < len(base) and base[end] in _VOWELS:
        end += 1
    # "qu" and "gi" + vowel: the u / i belongs to the initial consonant
    if start > 0 and end - start > 1:
        prev, first = base[start - 1], base[start]
        if (prev == "q" and first == "u") or (prev == "g" and first == "i"):
            start += 1
    return start, end


def _tone_position(base: str) -> int | None:
    span = _vowel_span(base.lower())
    if span is None:
        return None
    start, end = span
    nucleus = base[start:end].lower()
    marked = [i for i, ch in enumerate(nucleus) if ch in _MARKED_VOWELS]
    if marked:
        return start + marked[-1]
    has_final_consonant = end < len(base)
    if len(nucleus) == 1:
        return start
    if has_final_consonant:
        return end - 1
    if len(nucleus) == 2:
        return start  # traditional style: hòa, thủy, mùa, tài
    return start + 1  # three vowels: ngoài, khuya → the middle one


def place_tone(word: str) -> str:
    """Put the tone mark of one syllable at its canonical place."""
    base, tone = _split_tone(word)
    if tone is None:
        return base
    pos = _tone_position(base)
    if pos is None:
        return unicodedata.normalize("NFC", word)
    decomposed = unicodedata.normalize("NFD", base[pos])
    marked = unicodedata.normalize("NFC", decomposed + tone)
    return base[:pos] + marked + base[pos + 1 :]


def place_tones(text: str) -> str:
    """Apply :func:`place_tone` to every word of a text."""
    return _WORD.sub(lambda m: place_tone(m.group(0)), text)
