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
transfer (cross-validation on the dev photos, and photos it never saw).

Two refinements (session 65), each chosen by that cross-validation:
- Yaw-dependent coefficients: coef_kj(s) = sum_d c_kjd s^d, s the head's signed sin(yaw) read from
  the translated points' own landmarks (`yaw_proxy`: an affine camera fitted to them against their
  3D template; for a peer's points mapped to the 68, ICT's 68 serve as the template, so both
  methods read yaw the same way).  How far a contour point of the dataset lies from ICT's depends on how far the head
  is turned, not only on where its neighbours are.
- Mirror sharing: the fit also sees every photo mirrored (`mirrored`), with each point's
  neighbours the mirror image of its mirror point's (`symmetric_neighbours`), so the left and
  right points of a pair share one set of coefficients (the odd powers of yaw with their sign
  turned, as the mirror turns yaw), fitted on twice the photos.  Only the fit
  changes; `apply` reads any table.
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


def symmetric_neighbours(template: np.ndarray, k: int, mirror: np.ndarray, num_points: int = 68,
                         base: np.ndarray | None = None, mirror_points: np.ndarray | None = None) -> np.ndarray:
    """(P, k) as `neighbours`, except that of each mirror pair of points (i, mirror_points[i]) the
    later one's neighbours are the mirror images of the earlier one's: the two can then share
    coefficients.  mirror: (L,) the dense set's mirror permutation; mirror_points (P,) the points'
    (default: mirror's first P, which must then map the first P among themselves: dlm's sets)."""
    mirror = np.asarray(mirror)
    if mirror_points is None:
        mirror_points = mirror[:num_points]
        if base is not None or sorted(mirror_points.tolist()) != list(range(num_points)):
            raise ValueError("symmetric_neighbours: pass mirror_points (the dense set's mirror does not map "
                             f"the first {num_points} landmarks among themselves, or the points start elsewhere)")
    mirror_points = np.asarray(mirror_points)
    nb = neighbours(template, k, num_points, base)
    for i in range(num_points):
        if mirror_points[i] < i:
            nb[i] = mirror[nb[mirror_points[i]]]
    return nb


def mirrored(mu: np.ndarray, truth: np.ndarray, mirror: np.ndarray, mirror_points: np.ndarray):
    """The photos seen in a mirror: x negated (the translation does not depend on where x = 0 lies),
    each landmark taking its mirror point's place.  mu (N, L, 2), truth (N, P, 2); mirror (L,) and
    mirror_points (P,) the two sets' mirror permutations."""
    flip = np.array([-1.0, 1.0])
    return np.asarray(mu)[:, np.asarray(mirror)] * flip, np.asarray(truth)[:, np.asarray(mirror_points)] * flip


def yaw_proxy(mu: np.ndarray, template: np.ndarray) -> np.ndarray:
    """(...,) the head's signed sin(yaw) from landmarks mu (..., P, 2): the affine camera that best
    maps their template (P, 3) onto them, its image x axis's share along the template's depth
    (exact for a rigid, unrolled view).  Mirroring the landmarks (x negated) negates it."""
    mu = np.asarray(mu, np.float64)
    t = np.asarray(template, np.float64)
    x = np.concatenate([t - t.mean(0), np.ones((len(t), 1))], 1)          # (L, 4)
    a = np.linalg.pinv(x) @ mu                                            # (..., 4, 2)
    row = a[..., :3, 0]                                                   # the x row of the camera
    return row[..., 2] / np.maximum(np.linalg.norm(row, axis=-1), 1e-12)


def _features(mu, neighbour_index, i, own, yaw, degree):
    """(N, K (degree + 1), 2): each neighbour's offset from the point's own landmark, times yaw^d."""
    rel = mu[:, neighbour_index[i]] - own[:, None]
    if degree == 0:
        return rel
    return np.concatenate([rel * (yaw[:, None, None] ** d) for d in range(degree + 1)], 1)


def fit(mu: np.ndarray, truth: np.ndarray, norm: np.ndarray, neighbour_index: np.ndarray,
        ridge: float, base: np.ndarray | None = None, yaw: np.ndarray | None = None, degree: int = 0) -> np.ndarray:
    """Coefficients (P, K (degree + 1)) that move each point's own landmark onto truth.

    mu: (N, L, 2) predicted dense landmarks (pixels); truth: (N, P, 2) labelled points; norm: (N,)
    each photo's normalising size (errors are weighed as the NME weighs them); neighbour_index:
    (P, K); ridge: the penalty on the coefficients (0: plain least squares); base: (P,) the dense
    landmark each point starts from (default the first P: dlm's sets start with ICT's 68).
    degree > 0: each coefficient a polynomial of that degree in yaw (N,) (`yaw_proxy`), stored as
    K columns per power, lowest first."""
    mu, truth = np.asarray(mu, np.float64), np.asarray(truth, np.float64)
    norm = np.asarray(norm, np.float64)[:, None, None]
    p, k = neighbour_index.shape
    if degree and yaw is None:
        raise ValueError("label_translation.fit: degree > 0 needs yaw")
    base = np.arange(p) if base is None else np.asarray(base)
    width = k * (degree + 1)
    coef = np.zeros((p, width))
    for i in range(p):
        own = mu[:, base[i]]
        a = (_features(mu, neighbour_index, i, own, yaw, degree) / norm).transpose(0, 2, 1).reshape(-1, width)
        b = ((truth[:, i] - own) / norm[:, 0]).reshape(-1)
        coef[i] = np.linalg.solve(a.T @ a + ridge * np.eye(width), a.T @ b)
    return coef


def apply(mu: np.ndarray, neighbour_index: np.ndarray, coef: np.ndarray, base: np.ndarray | None = None,
          yaw: np.ndarray | None = None) -> np.ndarray:
    """mu (..., L, 2) dense landmarks -> (..., P, 2) the translated points (base as in `fit`); yaw
    (...,) when the table's coefficients depend on it (more columns than neighbours)."""
    mu = np.asarray(mu, np.float64)
    p, k = neighbour_index.shape
    coef = np.asarray(coef, np.float64)
    degree = coef.shape[1] // k - 1
    if coef.shape[1] != k * (degree + 1):
        raise ValueError(f"label_translation.apply: {coef.shape[1]} coefficients per point for {k} neighbours")
    if degree and yaw is None:
        raise ValueError("label_translation.apply: this table's coefficients depend on yaw; pass yaw")
    own = own_points(mu, p, base)
    rel = mu[..., neighbour_index, :] - own[..., :, None, :]          # (..., P, K, 2)
    out = own + np.einsum("...pkc,pk->...pc", rel, coef[:, :k])
    for d in range(1, degree + 1):
        powered = np.asarray(yaw, np.float64)[..., None, None] ** d
        out = out + powered * np.einsum("...pkc,pk->...pc", rel, coef[:, d * k:(d + 1) * k])
    return out


def from_manifest(entry: dict | None):
    """(neighbour_index, coef) from a manifest's stored table, or None."""
    if not entry:
        return None
    return np.asarray(entry["neighbours"], np.int64), np.asarray(entry["coef"], np.float64)


def depends_on_yaw(table) -> bool:
    """Whether a stored table (`from_manifest`, or None) has yaw-dependent coefficients."""
    return table is not None and table[1].shape[1] > table[0].shape[1]


def own_points(mu: np.ndarray, num_points: int, base: np.ndarray | None = None) -> np.ndarray:
    """(..., P, 2) the landmarks the translated points start from (base as in `fit`)."""
    mu = np.asarray(mu, np.float64)
    return mu[..., :num_points, :] if base is None else mu[..., np.asarray(base), :]


def translate(mu: np.ndarray, table, template: np.ndarray | None = None, base: np.ndarray | None = None) -> np.ndarray:
    """A stored table (`from_manifest`) applied to dense landmarks mu (..., L, 2); template (P, 3)
    the 3D template of the points' own landmarks (base as in `fit`), needed (for `yaw_proxy`) when
    the table depends on yaw."""
    nb, coef = table
    yaw = None
    if depends_on_yaw(table):
        if template is None:
            raise ValueError("label_translation.translate: this table depends on yaw; pass the template")
        yaw = yaw_proxy(own_points(mu, nb.shape[0], base), template)
    return apply(mu, nb, coef, base, yaw=yaw)
