"""Label translation: dlm's dense landmarks to another dataset's 68-point convention.

Why: a labelled dataset's 68 points are its own definition.  AFLW2000-3D's jaw points lie on the
mandible's contour back toward the ear; ICT's 68 (the first 68 of dlm's dense sets) lie further
forward on the cheek.  Seen from the front the two differ by a few pixels; at 60-90 degrees of yaw
the depth between them becomes a shift of ~0.2 face sizes (dev set, session 38: the jaw's mean
error 0.20 against 0.06-0.10 for the other parts).  The paper evaluates on 300-W the same way, "for
benchmark purposes only, we employ label translation [70]".

The translation here is linear and local: each of the 68 is the network's own point moved by a
fixed combination of its K nearest dense landmarks (nearest on the face model's template),

    out_k = mu_k + sum_j coef_kj (mu_j - mu_k),        j in neighbours_k,

an affine combination of nearby landmarks (weights 1 - sum coef, coef): under a near-affine camera,
the projection of one fixed point near them on the head, so a point defined deeper or further back
than ICT's moves with the head's yaw as the dataset's does.  The coefficients are fitted by ridge
regression on labelled photos (`fit`), in units of each photo's normalising size, x and y sharing
them.  `experiments/label_translation.py` fits them per shipped network and says how well they
transfer (two-fold cross-validation on the dev photos, and photos it never saw).
"""
from __future__ import annotations

import numpy as np


def neighbours(template: np.ndarray, k: int, num_points: int = 68, base: np.ndarray | None = None) -> np.ndarray:
    """(P, k) indices: for each translated point's own landmark (`base`, default the first
    num_points), its k nearest other landmarks by distance on the template.  template: (L, D)
    positions of the dense set (3D on the face model; a peer's mean 2D shape will do)."""
    t = np.asarray(template, np.float64)
    base = np.arange(num_points) if base is None else np.asarray(base)
    d = np.linalg.norm(t[base, None] - t[None], axis=2)
    d[np.arange(len(base)), base] = np.inf
    return np.argsort(d, axis=1, kind="stable")[:, :k]


def fit(mu: np.ndarray, truth: np.ndarray, norm: np.ndarray, neighbour_index: np.ndarray,
        ridge: float, base: np.ndarray | None = None) -> np.ndarray:
    """Coefficients (P, K) that move each point's own landmark onto truth.

    mu: (N, L, 2) predicted dense landmarks (pixels); truth: (N, P, 2) labelled points; norm: (N,)
    each photo's normalising size (errors are weighed as the NME weighs them); neighbour_index:
    (P, K); ridge: the penalty on the coefficients (0: plain least squares); base: (P,) the dense
    landmark each point starts from (default the first P: dlm's sets start with ICT's 68)."""
    mu, truth = np.asarray(mu, np.float64), np.asarray(truth, np.float64)
    norm = np.asarray(norm, np.float64)[:, None, None]
    p, k = neighbour_index.shape
    base = np.arange(p) if base is None else np.asarray(base)
    coef = np.zeros((p, k))
    for i in range(p):
        own = mu[:, base[i]:base[i] + 1]
        a = ((mu[:, neighbour_index[i]] - own) / norm).transpose(0, 2, 1).reshape(-1, k)
        b = ((truth[:, i] - own[:, 0]) / norm[:, 0]).reshape(-1)
        coef[i] = np.linalg.solve(a.T @ a + ridge * np.eye(k), a.T @ b)
    return coef


def apply(mu: np.ndarray, neighbour_index: np.ndarray, coef: np.ndarray, base: np.ndarray | None = None) -> np.ndarray:
    """mu (..., L, 2) dense landmarks -> (..., P, 2) the translated points (base as in `fit`)."""
    mu = np.asarray(mu, np.float64)
    p = neighbour_index.shape[0]
    own = mu[..., :p, :] if base is None else mu[..., np.asarray(base), :]
    rel = mu[..., neighbour_index, :] - own[..., :, None, :]          # (..., P, K, 2)
    return own + np.einsum("...pkc,pk->...pc", rel, np.asarray(coef, np.float64))


def from_manifest(entry: dict | None):
    """(neighbour_index, coef) from a manifest's stored table, or None."""
    if not entry:
        return None
    return np.asarray(entry["neighbours"], np.int64), np.asarray(entry["coef"], np.float64)
