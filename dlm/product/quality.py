"""How far to trust a detected face: a calibrated probability that it is the right face.

A wrong face (a dark corner, a hat brim, a logo) still gets landmarks and a fit, and its ROI
score can pass the face / no-face threshold.  `probability` maps the detection's ROI score (the
crop's mean log(sigma / side)) through a logistic model fitted per landmark network on labelled
photos by `experiments/calibrate_quality.py` and stored in the network's manifest (`quality`:
feature names, standardisation, weights, bias, the default minimum `min_quality`), because each
network's sigmas have their own scale.  "Right" there means the 68 predicted points lie within
the calibration's `right_nme` (0.2 of the face box) of the truth.

Other signals were measured and not adopted (issue 29; results in docs/results.md): the fitted
model's residual against sigma is far below 1 on right and wrong faces alike, and the agreement of
a crop's landmarks with its mirror image's separates less than the ROI score alone; added to it,
held-out AUC went 0.893 -> 0.894 on the first shipped network and 0.952 -> 0.966 on the campaign's
(2026-12-03): a candidate for the next calibration, at the cost of a second CNN pass per face.
"""
from __future__ import annotations

import math

import numpy as np

FEATURES = ("roi_score",)


def design(feats: dict) -> np.ndarray:
    """Feature vector in FEATURES order."""
    return np.array([feats[f] for f in FEATURES], np.float64)


def probability(roi_score: float, calibration: dict | None) -> float | None:
    """P(right face) of a detection with this ROI score, from a manifest's `quality` calibration;
    None without one."""
    if not calibration:
        return None
    x = (design(dict(roi_score=roi_score)) - np.asarray(calibration["mean"])) / np.asarray(calibration["scale"])
    t = float(x @ np.asarray(calibration["weights"]) + calibration["bias"])
    return float(1.0 / (1.0 + math.exp(-max(min(t, 50.0), -50.0))))


def max_score(min_quality: float, calibration: dict) -> float:
    """The ROI score at which `probability` equals min_quality (higher scores fall under it)."""
    if not 0.0 < min_quality < 1.0:
        raise ValueError(f"min_quality must be in (0, 1), got {min_quality}")
    t = math.log(min_quality / (1.0 - min_quality))
    (w,), (m,), (s,) = calibration["weights"], calibration["mean"], calibration["scale"]
    return float(m + s * (t - calibration["bias"]) / w)


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1e-2, iterations: int = 50) -> dict:
    """Logistic regression by Newton's method on standardised features (a small ridge keeps it
    finite when the classes separate).  x: (N, F) design rows; y: (N,) 0/1.  Returns the
    calibration dict `probability` reads (without "min_quality")."""
    x = np.asarray(x, np.float64).reshape(len(y), -1)
    y = np.asarray(y, np.float64)
    mean, scale = x.mean(0), x.std(0) + 1e-9
    a = np.hstack([(x - mean) / scale, np.ones((len(x), 1))])
    w = np.zeros(a.shape[1])
    reg = np.full(a.shape[1], l2)
    reg[-1] = 0.0
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(a @ w, -50, 50)))
        g = a.T @ (p - y) + reg * w
        h = (a * (p * (1 - p))[:, None]).T @ a + np.diag(reg) + 1e-9 * np.eye(len(w))
        step = np.linalg.solve(h, g)
        w -= step
        if np.max(np.abs(step)) < 1e-10:
            break
    return dict(features=list(FEATURES), mean=mean.tolist(), scale=scale.tolist(),
                weights=w[:-1].tolist(), bias=float(w[-1]))
