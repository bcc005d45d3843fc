"""Confidence model and abstention threshold."""

import numpy as np

from assistant.qa.calibration import Calibrator, LooSample, choose_threshold, loo_report


def _samples(rng):
    out = []
    for _ in range(300):  # in scope, mostly right, right ones score higher
        correct = rng.random() < 0.8
        x = rng.normal(1.0 if correct else 0.0, 0.4, size=3)
        out.append(LooSample(x, True, correct, True))
    for _ in range(150):  # out of scope: low scores, top candidate sometimes an answer
        x = rng.normal(-0.5, 0.5, size=3)
        out.append(LooSample(x, False, False, rng.random() < 0.7))
    return out


def test_calibrated_confidence_separates_and_threshold_respects_out_of_scope_floor():
    rng = np.random.default_rng(0)
    samples = _samples(rng)
    cal = Calibrator().fit(samples)
    conf = cal.predict(np.stack([s.features for s in samples]))
    assert ((conf >= 0) & (conf <= 1)).all()
    right = conf[[s.correct for s in samples]].mean()
    wrong = conf[[not s.correct for s in samples]].mean()
    assert right > wrong + 0.3
    report = loo_report(conf, samples, cal.threshold)
    assert report["out_of_scope_declined"] >= 0.97
    assert report["answered_correct_in_scope"] > 0.5


def test_threshold_rises_when_wrong_answers_are_confident():
    samples = [LooSample(np.zeros(1), True, True, True)] * 10 + [LooSample(np.zeros(1), False, False, True)] * 10
    conf = np.array([0.9] * 10 + [0.6] * 10)
    assert choose_threshold(conf, samples) > 0.6
