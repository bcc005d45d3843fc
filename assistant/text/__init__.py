"""Vietnamese text handling: normalisation, accent folding, tone placement."""

from assistant.text.normalize import (
    clean,
    fold,
    has_diacritics,
    has_letters,
    lexical_terms,
    normalize,
    strip_accents,
    syllables,
)
from assistant.text.tones import place_tones

__all__ = [
    "clean",
    "fold",
    "has_diacritics",
    "has_letters",
    "lexical_terms",
    "normalize",
    "place_tones",
    "strip_accents",
    "syllables",
]
