"""Hybrid retrieval over retrieval units, fused per target (answer entry, redirect or out-of-scope group).

A *unit* is one searchable text (an example question or a title, in its accented and its folded form)
pointing at a *target*. Dense (faiss) and lexical (BM25) scores are computed per unit, reduced to
the best unit per target, and fused with the topic router's probability of the target's class.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from assistant.qa.dense import DenseIndex
from assistant.qa.router import OUT_OF_SCOPE, REDIRECT, TopicRouter
from assistant.qa.schemas import Unit

#: fusion weights: dense cosine, lexical score relative to the best, router probability of the class
W_DENSE = 1.0
W_LEXICAL = 0.35
W_ROUTER = 0.5
#: how many units each side hands to the fusion
UNIT_DEPTH = 64


@dataclass
class Candidate:
    target: str
    kind: str
    topic: str | None
    dense: float
    lexical: float
    lexical_rel: float
    router: float
    fused: float


@dataclass
class Retrieval:
    """Ranked candidates plus what the confidence model needs."""

    candidates: list[Candidate]
    router_classes: list[str]
    router_probs: np.ndarray
    n_terms: int

    @property
    def p_in_scope(self) -> float:
        return float(sum(p for c, p in zip(self.router_classes, self.router_probs)
                         if c not in (REDIRECT, OUT_OF_SCOPE)))

    def best_topic(self) -> str | None:
        pairs = [(p, c) for c, p in zip(self.router_classes, self.router_probs) if c not in (REDIRECT, OUT_OF_SCOPE)]
        return max(pairs)[1] if pairs else None

    def features(self) -> np.ndarray:
        """Features of the top candidate for the confidence model (fixed order)."""
        c = self.candidates
        top = c[0] if c else Candidate("", "", None, 0, 0, 0, 0, 0)
        second = c[1] if len(c) > 1 else Candidate("", "", None, 0, 0, 0, 0, 0)
        best_dense = max((x.dense for x in c[1:]), default=0.0)
        return np.array([
            top.fused,
            top.fused - second.fused,
            top.dense,
            top.dense - best_dense,
            np.log1p(top.lexical),
            top.lexical / max(self.n_terms, 1),
            top.router,
            float(self.router_probs.max()) if self.router_probs.size else 0.0,
            self.p_in_scope,
            float(top.kind == "answer"),
            np.log1p(self.n_terms),
        ], dtype=np.float64)


FEATURE_NAMES = ["fused", "fused_margin", "dense", "dense_margin", "log_lexical", "lexical_per_term",
                 "router_top", "router_max", "p_in_scope", "is_answer", "log_terms"]


def router_class(unit_kind: str, topic: str | None) -> str:
    if unit_kind == "redirect":
        return REDIRECT
    if unit_kind == "out_of_scope":
        return OUT_OF_SCOPE
    assert topic is not None
    return topic


def fuse(units: list[Unit], dense_scores: dict[int, float], lexical_scores: dict[int, float],
         router_classes: list[str], router_probs: np.ndarray, n_terms: int,
         exclude: set[int] | frozenset[int] = frozenset()) -> Retrieval:
    """Reduce unit scores to targets and rank them."""
    class_prob = dict(zip(router_classes, router_probs.tolist()))
    per_target: dict[str, list[float]] = {}
    meta: dict[str, Unit] = {}
    for slot, scores in enumerate((dense_scores, lexical_scores)):
        for uid, s in scores.items():
            if uid in exclude:
                continue
            u = units[uid]
            rec = per_target.setdefault(u.target, [-1.0, 0.0])
            rec[slot] = max(rec[slot], s)
            meta[u.target] = u
    best_lex = max((v[1] for v in per_target.values()), default=0.0)
    candidates = []
    for target, (dense, lex) in per_target.items():
        u = meta[target]
        rel = lex / best_lex if best_lex > 0 else 0.0
        prob = class_prob.get(router_class(u.kind, u.topic), 0.0)
        dense = max(dense, 0.0)
        fused = W_DENSE * dense + W_LEXICAL * rel + W_ROUTER * prob
        candidates.append(Candidate(target, u.kind, u.topic, dense, lex, rel, prob, fused))
    candidates.sort(key=lambda c: c.fused, reverse=True)
    return Retrieval(candidates, router_classes, router_probs, n_terms)


class HybridRetriever:
    """Dense + lexical + router over a fixed set of units."""

    def __init__(self, units: list[Unit], dense: DenseIndex, lexical, router: TopicRouter):
        self.units = units
        self.dense = dense
        self.lexical = lexical
        self.router = router

    def retrieve(self, vector: np.ndarray, folded: str, terms: list[str], *, depth: int = UNIT_DEPTH) -> Retrieval:
        d_scores, d_ids = self.dense.search(vector, depth)
        l_scores, l_ids = self.lexical.top(terms, depth)
        probs = self.router.predict_proba(vector.reshape(1, -1), [folded])[0]
        n_terms = len(folded.split())
        return fuse(self.units, dict(zip(d_ids.tolist(), d_scores.tolist())),
                    dict(zip(l_ids.tolist(), l_scores.tolist())), self.router.classes, probs, n_terms)
