"""The detected-face quality: a logistic model of the ROI score, calibrated per network."""
import numpy as np
import pytest

from dlm.product import quality


def test_fit_logistic_recovers_a_known_model():
    """Labels drawn from P(y=1) = 1 / (1 + exp(-(a x + b))): Newton's fit recovers a and b.
    Standard errors here: a's about 1 / sqrt(N var(x) p(1 - p)) = 1 / sqrt(20000 * 0.0625 * 0.2)
    = 0.063, b's about |mean x| = 3 times that; the bounds are 5 of them (the 1e-2 ridge on
    standardised weights moves them far less)."""
    rng = np.random.default_rng(0)
    x = rng.normal(-3.0, 0.25, 20_000)
    a, b = -8.0, -24.5
    y = rng.random(x.size) < 1 / (1 + np.exp(-(a * x + b)))
    cal = quality.fit_logistic(x[:, None], y)
    w_raw = cal["weights"][0] / cal["scale"][0]
    b_raw = cal["bias"] - w_raw * cal["mean"][0]
    assert w_raw == pytest.approx(a, abs=0.32)
    assert b_raw == pytest.approx(b, abs=0.95)


def test_probability_falls_with_the_roi_score_and_max_score_inverts_it():
    cal = dict(features=["roi_score"], mean=[-3.06], scale=[0.21], weights=[-2.1], bias=-1.7, min_quality=0.1)
    scores = np.linspace(-4.0, -2.0, 21)
    p = [quality.probability(s, cal) for s in scores]
    assert all(0.0 < v < 1.0 for v in p) and np.all(np.diff(p) < 0)
    for q in (0.05, 0.1, 0.5, 0.9):
        assert quality.probability(quality.max_score(q, cal), cal) == pytest.approx(q, abs=1e-9)
    assert quality.probability(-3.0, None) is None
    with pytest.raises(ValueError):
        quality.max_score(1.0, cal)


def test_shipped_realtime_model_is_calibrated():
    """The shipped network's manifest carries its calibration (experiments/calibrate_quality.py),
    with a default minimum inside (0, 1) that keeps most right faces on its held-out dev photos."""
    from dlm.landmarks import predictor as lmk
    cal = lmk.shipped("realtime").manifest.get("quality")
    assert cal and cal["features"] == list(quality.FEATURES)
    assert 0.0 < cal["min_quality"] < 1.0 and cal["weights"][0] < 0
