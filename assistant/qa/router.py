"""Topic routing: which of the six topics a question is about, or whether it is out of scope.

A multinomial logistic regression over the question's embedding and TF-IDF features of its
accent-folded form (syllable 1–2-grams and character 2–4-grams, which survive typos and missing
diacritics). Classes are the six topic codes plus ``REDIRECT`` (another agency's procedure) and
``OUT_OF_SCOPE`` (chit-chat, unrelated, prompt attacks). Trained on the corpus's example questions.
"""

from __future__ import annotations

from pathlib import Path

import joblib
import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

REDIRECT = "_redirect"
OUT_OF_SCOPE = "_out_of_scope"
NEGATIVE_CLASSES = (REDIRECT, OUT_OF_SCOPE)


class TopicRouter:
    """``fit`` on (embedding, folded text, label) triples; ``predict_proba`` for one question."""

    def __init__(self, *, embedding_weight: float = 2.0, c: float = 8.0):
        self.embedding_weight = embedding_weight
        self.c = c
        self.words = TfidfVectorizer(analyzer="word", ngram_range=(1, 2), sublinear_tf=True, min_df=1,
                                     token_pattern=r"[^\s]+")
        self.chars = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True, min_df=2)
        self.model = LogisticRegression(C=c, max_iter=3000)

    def _features(self, embeddings: np.ndarray, folded: list[str], *, fit: bool = False) -> sparse.csr_matrix:
        if fit:
            w = self.words.fit_transform(folded)
            ch = self.chars.fit_transform(folded)
        else:
            w = self.words.transform(folded)
            ch = self.chars.transform(folded)
        dense = sparse.csr_matrix(embeddings * self.embedding_weight)
        return sparse.hstack([dense, w, ch], format="csr")

    def fit(self, embeddings: np.ndarray, folded: list[str], labels: list[str]) -> TopicRouter:
        self.model.fit(self._features(embeddings, folded, fit=True), labels)
        return self

    @property
    def classes(self) -> list[str]:
        return [str(c) for c in self.model.classes_]

    def predict_proba(self, embeddings: np.ndarray, folded: list[str]) -> np.ndarray:
        """Class probabilities, columns in the order of :attr:`classes`."""
        return self.model.predict_proba(self._features(np.atleast_2d(embeddings), folded))

    def save(self, path: Path) -> None:
        joblib.dump(self, path)

    @staticmethod
    def load(path: Path) -> TopicRouter:
        router = joblib.load(path)
        if not isinstance(router, TopicRouter):
            raise TypeError(f"{path} does not hold a TopicRouter")
        return router
