"""Calibrated confidence and the abstention threshold, both learned from leave-one-out retrieval.

Each example question of the corpus is asked as if new (its own units removed, the router trained
without it); the outcome (was the top target right?) and the retrieval features train a logistic
model whose output is the probability that the answer is right. The threshold then maximises a
utility that punishes a wrong answer more than a declined one, with a floor on how many
out-of-scope questions must be declined.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

#: utility of outcomes when choosing the threshold
GAIN_CORRECT = 1.0
COST_WRONG = 2.0
COST_ANSWERED_OUT_OF_SCOPE = 3.0
MIN_OUT_OF_SCOPE_DECLINED = 0.97


@dataclass
class LooSample:
    features: np.ndarray
    in_scope: bool
    correct: bool  # top candidate is the right target
    top_is_answer: bool


class Calibrator:
    """P(top candidate is right | retrieval features)."""

    def __init__(self) -> None:
        self.model = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000))
        self.threshold = 0.5

    def fit(self, samples: list[LooSample]) -> Calibrator:
        x = np.stack([s.features for s in samples])
        y = np.array([s.correct for s in samples], dtype=int)
        self.model.fit(x, y)
        self.threshold = choose_threshold(self.predict(x), samples)
        return self

    def predict(self, features: np.ndarray) -> np.ndarray:
        return self.model.predict_proba(np.atleast_2d(features))[:, 1]


def choose_threshold(confidence: np.ndarray, samples: list[LooSample]) -> float:
    """Threshold on confidence for answering, maximising utility under the out-of-scope floor."""
    in_scope = np.array([s.in_scope for s in samples])
    correct = np.array([s.correct for s in samples])
    answers = np.array([s.top_is_answer for s in samples])
    best, best_utility = 0.5, -np.inf
    for t in np.linspace(0.05, 0.95, 91):
        answered = answers & (confidence >= t)
        oos_declined = 1 - answered[~in_scope].mean() if (~in_scope).any() else 1.0
        utility = (GAIN_CORRECT * (answered & in_scope & correct).sum()
                   - COST_WRONG * (answered & in_scope & ~correct).sum()
                   - COST_ANSWERED_OUT_OF_SCOPE * (answered & ~in_scope).sum())
        if oos_declined >= MIN_OUT_OF_SCOPE_DECLINED and utility > best_utility:
            best, best_utility = float(t), utility
    return best


def loo_report(confidence: np.ndarray, samples: list[LooSample], threshold: float) -> dict[str, float]:
    """Leave-one-out figures at a threshold, for the index metadata."""
    in_scope = np.array([s.in_scope for s in samples])
    correct = np.array([s.correct for s in samples])
    answers = np.array([s.top_is_answer for s in samples])
    answered = answers & (confidence >= threshold)
    return {
        "in_scope_questions": int(in_scope.sum()),
        "out_of_scope_questions": int((~in_scope).sum()),
        "top_usable_in_scope": float(correct[in_scope].mean()) if in_scope.any() else 0.0,
        "answered_correct_in_scope": float((answered & correct)[in_scope].mean()) if in_scope.any() else 0.0,
        "answered_wrong_in_scope": float((answered & ~correct)[in_scope].mean()) if in_scope.any() else 0.0,
        "out_of_scope_declined": float(1 - answered[~in_scope].mean()) if (~in_scope).any() else 1.0,
        "threshold": threshold,
    }
