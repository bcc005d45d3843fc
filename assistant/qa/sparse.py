"""Lexical search: BM25 over accent-folded syllables and syllable bigrams (bm25s)."""

from __future__ import annotations

from pathlib import Path

import bm25s
import numpy as np


class LexicalIndex:
    """BM25 over pre-tokenised documents; tokens come from :func:`assistant.text.lexical_terms`."""

    def __init__(self, retriever: bm25s.BM25):
        self.retriever = retriever
        self._vocab = retriever.vocab_dict

    @classmethod
    def build(cls, documents: list[list[str]], *, k1: float = 1.2, b: float = 0.6) -> LexicalIndex:
        vocab: dict[str, int] = {}
        ids = [[vocab.setdefault(t, len(vocab)) for t in doc] for doc in documents]
        retriever = bm25s.BM25(k1=k1, b=b)
        retriever.index(bm25s.tokenization.Tokenized(ids=ids, vocab=vocab), show_progress=False)
        return cls(retriever)

    def __len__(self) -> int:
        return int(self.retriever.scores["num_docs"])

    def scores(self, terms: list[str]) -> np.ndarray:
        """BM25 score of every document for a query (zeros when no term is known)."""
        known = [t for t in terms if t in self._vocab]
        if not known:
            return np.zeros(len(self), dtype=np.float32)
        return np.asarray(self.retriever.get_scores(known), dtype=np.float32)

    def top(self, terms: list[str], k: int) -> tuple[np.ndarray, np.ndarray]:
        """Scores and ids of the ``k`` best documents (only those with a positive score)."""
        scores = self.scores(terms)
        k = max(1, min(k, len(scores)))
        ids = np.argpartition(-scores, k - 1)[:k]
        ids = ids[np.argsort(-scores[ids])]
        keep = scores[ids] > 0
        return scores[ids][keep], ids[keep]

    def save(self, folder: Path) -> None:
        self.retriever.save(str(folder), show_progress=False)

    @classmethod
    def load(cls, folder: Path) -> LexicalIndex:
        return cls(bm25s.BM25.load(str(folder), show_progress=False, mmap=False))
