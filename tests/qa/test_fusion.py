"""Fusion of dense, lexical and router scores into ranked targets (no model needed)."""

import numpy as np
import pytest

from assistant.qa.retrieval import FEATURE_NAMES, fuse
from assistant.qa.router import OUT_OF_SCOPE, REDIRECT
from assistant.qa.schemas import Unit

UNITS = [
    Unit("đăng ký tạm trú", "cu_tru_tam_tru", "answer", "cu_tru", 0),
    Unit("dang ky tam tru", "cu_tru_tam_tru", "answer", "cu_tru", 0),
    Unit("đăng ký thường trú", "cu_tru_thuong_tru", "answer", "cu_tru", 1),
    Unit("làm căn cước", "can_cuoc_cap_the", "answer", "can_cuoc", 2),
    Unit("làm giấy khai sinh", "redirect:khai_sinh", "redirect", None, 3),
    Unit("xin chào", "oos:chao", "out_of_scope", None, 4),
]
CLASSES = ["can_cuoc", "cu_tru", REDIRECT, OUT_OF_SCOPE]


def test_best_unit_per_target_and_ranking():
    r = fuse(UNITS, {0: 0.80, 1: 0.90, 2: 0.85, 3: 0.30}, {0: 4.0, 2: 1.0}, CLASSES,
             np.array([0.05, 0.9, 0.03, 0.02]), 4)
    targets = [c.target for c in r.candidates]
    assert targets[0] == "cu_tru_tam_tru"
    top = r.candidates[0]
    assert top.dense == pytest.approx(0.90)  # the better of its two units
    assert top.lexical_rel == pytest.approx(1.0)
    assert len(set(targets)) == len(targets)


def test_router_prior_breaks_a_dense_tie_between_topics():
    probs = np.array([0.9, 0.05, 0.03, 0.02])
    r = fuse(UNITS, {2: 0.8, 3: 0.8}, {}, CLASSES, probs, 3)
    assert r.candidates[0].target == "can_cuoc_cap_the"
    assert r.best_topic() == "can_cuoc"
    assert r.p_in_scope == pytest.approx(0.95)


def test_excluded_units_are_ignored():
    r = fuse(UNITS, {0: 0.95, 1: 0.95, 2: 0.5}, {0: 3.0}, CLASSES, np.array([0.1, 0.8, 0.05, 0.05]), 3,
             exclude={0, 1})
    assert [c.target for c in r.candidates] == ["cu_tru_thuong_tru"]


def test_negative_targets_compete():
    r = fuse(UNITS, {4: 0.9, 0: 0.5}, {}, CLASSES, np.array([0.0, 0.1, 0.85, 0.05]), 3)
    assert r.candidates[0].kind == "redirect"
    assert r.features()[FEATURE_NAMES.index("is_answer")] == 0.0


def test_features_are_finite_even_without_candidates():
    r = fuse(UNITS, {}, {}, CLASSES, np.array([0.25, 0.25, 0.25, 0.25]), 0)
    f = r.features()
    assert len(f) == len(FEATURE_NAMES) and np.isfinite(f).all()
