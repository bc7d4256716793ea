"""Region of interest (Section 3.3): where the face is, as a rotated square crop.

Offline: the full-head landmark network itself is the face detector.  It runs over multi-scale
sliding windows and the window whose landmarks are the most certain (lowest mean log sigma, in
units of the window side) wins; no external detector.  With several faces, every window under an
uncertainty threshold survives non-maximum suppression.  Each kept window is then refined: the
crop is re-framed from its own predicted landmarks (as the training crops are framed) and predicted
again.

Real-time: `roi_from_landmarks` frames the next crop from the previous frame's landmarks, rotated
upright so the eyes lie on a horizontal line, as far as the eyes are apart (on a profile they nearly
coincide and their line says nothing: the crop keeps its roll, `EYE_ROLL_RATIO`).

The framing matches training (`dlm.synth.render.crop_camera`): the box of the non-neck landmarks fills
FILL of the crop side (the middle of the training range 0.62-0.95).  A set's non-neck box is
smaller than the 703-point box that training used by BOX_RATIO (median over 40 random scenes:
`python -m dlm.product.roi` prints it).
"""
from __future__ import annotations

import dataclasses
import functools
import math
from typing import Callable, Sequence

import cv2
import jax
import numpy as np

from dlm.core import facemodel as fm
from dlm.landmarks import predictor as lmk
from dlm.synth import scenes
from dlm.synth.pool import mirror_permutation as _set_mirror_permutation

FILL = 0.785
BOX_RATIO = {"703": 1.0, "320": 1.009, "68": 1.60}
EYE_REGIONS = ("eye", "eyelid", "iris", "pupil")


@dataclasses.dataclass(frozen=True)
class Roi:
    """A square crop of side `side` pixels centred at `centre` (x, y), rotated by `angle` radians
    (the crop's x axis points along (cos a, sin a) in the image).  `score`: mean log of sigma over
    the side (lower is more certain); nan until predicted."""
    centre: tuple
    side: float
    angle: float = 0.0
    score: float = float("nan")

    def transform(self, size: int) -> np.ndarray:
        """2 x 3 affine map from image pixels to crop pixels (continuous coordinates)."""
        s = size / self.side
        c, sn = np.cos(self.angle), np.sin(self.angle)
        r = s * np.array([[c, sn], [-sn, c]])
        t = size / 2.0 - r @ np.asarray(self.centre, np.float64)
        return np.concatenate([r, t[:, None]], 1)

    def to_image(self, points: np.ndarray, size: int) -> np.ndarray:
        """Crop pixels (..., 2) back to image pixels."""
        a = self.transform(size)
        inv = np.linalg.inv(a[:, :2])
        return (np.asarray(points, np.float64) - a[:, 2]) @ inv.T

    def box(self) -> np.ndarray:
        """Axis-aligned bounds (x0, y0, x1, y1) of the rotated square."""
        h = self.side / 2 * (abs(np.cos(self.angle)) + abs(np.sin(self.angle)))
        cx, cy = self.centre
        return np.array([cx - h, cy - h, cx + h, cy + h])


def under_crop(image: np.ndarray, transform: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The part of the image under a size x size crop (plus a pixel or two) and the 2 x 3 map from its
    pixel indices to the crop's, as cv2 samples (integer coordinates: shifted by half a pixel).  Only
    that part is resampled: a 720p frame's full pre-shrink cost 6 ms per frame, the face's box a
    fraction of it."""
    a = np.array(transform, np.float64)
    a[:, 2] += a[:, :2].sum(1) * 0.5 - 0.5
    # The crop's corners in the image, by the 2 x 2 inverse in closed form (Python floats: a tracked
    # frame runs this, and numpy's inv and small products cost ~15 us in all).
    (p, q, tx), (r, s, ty) = a.tolist()
    det = p * s - q * r
    ip, iq, ir, is_ = s / det, -q / det, -r / det, p / det
    xs = [ip * (u - tx) + iq * (v - ty) for u, v in ((0, 0), (size, 0), (0, size), (size, size))]
    ys = [ir * (u - tx) + is_ * (v - ty) for u, v in ((0, 0), (size, 0), (0, size), (size, size))]
    h, w = image.shape[:2]
    x0, y0 = max(math.floor(min(xs)) - 2, 0), max(math.floor(min(ys)) - 2, 0)
    x1, y1 = min(math.ceil(max(xs)) + 3, w), min(math.ceil(max(ys)) + 3, h)
    if x1 - x0 >= 2 and y1 - y0 >= 2 and (x0 > 0 or y0 > 0 or x1 < w or y1 < h):
        image = image[y0:y1, x0:x1]
        a[:, 2] += a[:, :2] @ np.array([x0, y0], np.float64)
    return image, a


def warp_crop(image: np.ndarray, transform: np.ndarray, size: int) -> np.ndarray:
    """Crop with cv2.warpAffine; cv2 samples at integer coordinates, so shift by half a pixel.
    Halved first (2 x 2 averages) while the warp would shrink more than 4x (so a large photo does
    not alias), then bilinear."""
    image, a = under_crop(image, transform, size)
    # Shrinking more than 4x, warpAffine's bilinear sampling (its INTER_AREA is bilinear for
    # non-integer maps) would skip pixels and alias: halve the image first (averages of 2 x 2
    # blocks, cv2.resize's INTER_AREA at factor 2, its vectorised path) until the warp shrinks by
    # 2-4x.  The previous pre-shrink, an area resampling to twice the crop's resolution whenever
    # the warp shrank by more than 2x, took OpenCV's general resampler: 0.5-2.5 ms per crop for
    # faces of 260-1000 px (one core) against ~0.06-0.3 ms now, with balanced NME on the dev photos
    # equal to 0.01 points for either network, own face finding or ground-truth crops; averaging
    # down to the crop's own resolution instead gave blurrier crops, 0.05-0.1 points worse with the
    # face finder.  (Factors of 3 and more also leave the vectorised path: ~1 ms a megapixel.)
    while abs(a[0, 0] * a[1, 1] - a[0, 1] * a[1, 0]) < 0.0625:     # the warp's scale under 0.25
        h, w = image.shape[:2]
        if h % 2 or w % 2:    # whole blocks: repeat the last row or column (as BORDER_REPLICATE)
            image = cv2.copyMakeBorder(image, 0, h % 2, 0, w % 2, cv2.BORDER_REPLICATE)
        image = cv2.resize(image, (image.shape[1] // 2, image.shape[0] // 2), interpolation=cv2.INTER_AREA)
        # half-size pixel i covers pixels 2i and 2i + 1: its centre is 2i + 1/2.
        a = a @ np.array([[2.0, 0.0, 0.5], [0.0, 2.0, 0.5], [0.0, 0.0, 1.0]])
    return cv2.warpAffine(image, a, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def crop(image: np.ndarray, roi: Roi, size: int) -> np.ndarray:
    return warp_crop(image, roi.transform(size), size)


@functools.lru_cache(maxsize=8)
def _set_info(landmark_set: str, num: int):
    """(non-neck landmarks, the subject's left eye's, the right eye's) of a landmark set, as index
    arrays (a tracked frame indexes with them: ~3x faster than boolean masks at 320 landmarks)."""
    model = _model()
    names = model.landmark_regions[landmark_set]
    if len(names) != num:
        raise ValueError(f"landmark set {landmark_set!r} has {len(names)} landmarks, got {num}")
    x = np.asarray(model.template)[np.asarray(model.landmarks[landmark_set]), 0]
    eye = np.isin(names, EYE_REGIONS)
    return (np.flatnonzero([n != "neck" for n in names]), np.flatnonzero(eye & (x > 0)),
            np.flatnonzero(eye & (x < 0)))


_MODEL = None


def _model():
    global _MODEL
    if _MODEL is None:
        _MODEL = fm.load_face_model()
    return _MODEL


def eye_angle(points: np.ndarray, landmark_set: str) -> float:
    """Roll (radians) of the line from the subject's right eye to the left eye in the image."""
    _, left, right = _set_info(landmark_set, len(points))
    v = points[left].mean(0) - points[right].mean(0)
    return float(np.arctan2(v[1], v[0]))


# How far the eyes are apart (eye centres' distance over the landmark box's side) decides how much the
# eye line is trusted for the crop's roll.  AFLW2000-3D dev photos, shipped offline network on
# ground-truth crops: median 0.22 at 0-30 degrees of yaw, 0.16 at 30-60, 0.07 at 60-75, 0.03 at 75-90;
# the eye line's angle against the labelled eyes' is off by a median 1.6 / 4.9 / 24.5 / 44.2 degrees.
# On profiles the two eyes nearly coincide and their line points anywhere: re-framing a profile by it
# turned the crop by tens of degrees at each step (image00734: +13, -140, -95, +110 degrees).
EYE_ROLL_RATIO = (0.05, 0.12)


def roi_from_landmarks(points: np.ndarray, landmark_set: str, upright: bool = True, fill: float = FILL,
                       prior_angle: float | None = None) -> Roi:
    """The training framing of a face with these landmarks (L, 2) image pixels: rotated so the eyes
    are level (`upright`), the non-neck landmark box scaled by BOX_RATIO filling `fill` of the side.
    prior_angle (radians; the roll of the crop the landmarks came from): the roll moves from it to
    the eye line's only as far as the eyes are apart (EYE_ROLL_RATIO): all the way on faces within
    ~45 degrees of frontal, not at all on profiles, whose eye line says nothing of the roll."""
    # Scalars as Python floats, sets as index arrays and coordinates as separate x and y rows: this
    # runs on every tracked frame, where numpy's per-call overhead on 0-d values and its reductions
    # over the short axis of (L, 2) arrays were most of its time (55 -> 21 us at 320 landmarks, one core).
    xy = np.asarray(points, np.float64).T                   # (2, L)
    keep, left, right = _set_info(landmark_set, xy.shape[1])
    fx, fy = xy[:, keep]
    angle = 0.0
    if upright:
        e = xy[:, left].sum(1) / len(left) - xy[:, right].sum(1) / len(right)   # as `eye_angle` takes it
        ex, ey = float(e[0]), float(e[1])
        angle = math.atan2(ey, ex)
        if prior_angle is not None:
            extent = max(float(fx.max() - fx.min()), float(fy.max() - fy.min()))
            ratio = math.hypot(ex, ey) / max(extent, 1e-9)
            lo, hi = EYE_ROLL_RATIO
            w = min(max((ratio - lo) / (hi - lo), 0.0), 1.0)
            turn = math.remainder(angle - prior_angle, 2 * math.pi)     # the shorter way round, in [-pi, pi]
            angle = prior_angle + w * turn
    c, s = math.cos(angle), math.sin(angle)
    u, v = c * fx + s * fy, c * fy - s * fx                # the upright frame
    u0, u1, v0, v1 = float(u.min()), float(u.max()), float(v.min()), float(v.max())
    side = max(u1 - u0, v1 - v0) * BOX_RATIO.get(landmark_set, 1.0) / fill
    cu, cv = (u0 + u1) / 2, (v0 + v1) / 2
    centre = (c * cu - s * cv, s * cu + c * cv)            # back to the image (the rotation's transpose)
    return Roi(centre, max(side, 1.0), angle)


@dataclasses.dataclass(frozen=True)
class Detection:
    roi: Roi                 # the refined crop
    mu: np.ndarray           # (L, 2) image pixels
    sigma: np.ndarray        # (L,) image pixels
    score: float             # mean log(sigma / side) at the refined crop; lower is more certain


def padded_batch(n: int, batch: int) -> int:
    """The batch a chunk of n crops runs at: the next power of two, at most `batch`.  The network
    compiles once per batch shape; a shape per crop count (a detector's 1-5 boxes, search_near's
    27 crops, a search's last chunk) stalled a live track for a compilation (1.7 s on one core) the
    first time each count came up."""
    b = 1
    while b < n:
        b *= 2
    return max(n, min(b, batch))


def predict_in(image: np.ndarray, rois: Sequence[Roi], predictor: lmk.Predictor, batch: int = 32):
    """Landmarks in each crop: mu (N, L, 2) and sigma (N, L) in image pixels, and scores (N,)."""
    size = predictor.size
    if not len(rois):
        return (np.zeros((0, predictor.num_landmarks, 2), np.float32), np.zeros((0, predictor.num_landmarks), np.float32),
                np.zeros((0,)))
    mus, sigmas, scores = [], [], []
    for i in range(0, len(rois), batch):
        chunk = rois[i:i + batch]
        crops = np.stack([crop(image, r, size) for r in chunk])
        n, run = len(chunk), padded_batch(len(chunk), batch)   # a few compiled shapes
        if n < run:
            crops = np.concatenate([crops, np.zeros((run - n,) + crops.shape[1:], crops.dtype)])
        mu, sigma = (np.asarray(a)[:n] for a in predictor(crops))
        for r, m, s in zip(chunk, mu, sigma):
            mus.append(r.to_image(m, size))
            sigmas.append(s * r.side / size)
            scores.append(float(np.mean(np.log(s / size))))
    return np.stack(mus), np.stack(sigmas), np.asarray(scores)


@functools.lru_cache(maxsize=None)
def landmark_template(landmark_set: str) -> np.ndarray:
    """(L, 3) the face model's template at a landmark set's vertices (cm)."""
    model = _model()
    template = np.asarray(model.template)[np.asarray(model.landmarks[landmark_set])]
    template.flags.writeable = False    # cached: shared by every caller
    return template


@functools.lru_cache(maxsize=None)
def mirror_permutation(landmark_set: str) -> np.ndarray:
    """(L,) the landmark of the set each landmark becomes in the mirror image (x -> -x)."""
    return _set_mirror_permutation(_model(), landmark_set)


def mirror_pass(image: np.ndarray, roi: Roi, predictor: lmk.Predictor) -> tuple[np.ndarray, np.ndarray]:
    """The landmarks predicted on the mirror image of roi's crop, mapped back (x -> side - x in the
    crop, each landmark taking its mirror partner's prediction): mu (L, 2) and sigma (L,), image
    pixels."""
    size = predictor.size
    mu, sigma = (np.asarray(a[0], np.float64) for a in predictor(crop(image, roi, size)[None, :, ::-1]))
    perm = mirror_permutation(predictor.landmark_set)
    return roi.to_image(mu[perm] * [-1.0, 1.0] + [size, 0.0], size), sigma[perm] * roi.side / size


def mirror_averaged(image: np.ndarray, det: Detection, predictor: lmk.Predictor) -> Detection:
    """det (its landmarks predicted in its own crop, as `refine` and `predict_in` give them)
    averaged with the prediction on the crop's mirror image (`mirror_pass`), per landmark by
    inverse variance.  sigma: the geometric mean of the two (two passes over one image are not
    independent evidence, so no more certainty is claimed than one pass has); the score (and with
    it the quality calibrations, made on single passes) is unchanged.  On the 200 AFLW2000-3D dev
    photos (session 38, shipped real-time network): balanced NME on ground-truth crops 7.54% ->
    7.18%, with dlm's own face finding 7.93% -> 7.61%; one more network pass per face.  Photos now
    use `averaged` (turned crops as well)."""
    return averaged(image, det, predictor, angles_deg=(0.0,), mirror=True)


# Photos: each face's landmarks are averaged over its crop turned by these angles and the mirror
# image of each (six network passes).  Measured on the 200 AFLW2000-3D dev photos (ground-truth
# crops, campaign 3's weights; python experiments/tta_probe.py): balanced NME 6.86% (one pass),
# 6.53% (mirror), 6.42% (this); the 22 other labelled photos 5.82%, 5.67%, 5.61%.  More passes
# (scales 0.9-1.1 as well: 18) gained 0.02 more.
PHOTO_ANGLES_DEG = (-10.0, 0.0, 10.0)


def averaged(image: np.ndarray, det: Detection, predictor: lmk.Predictor,
             angles_deg: Sequence[float] = PHOTO_ANGLES_DEG, mirror: bool = True) -> Detection:
    """det (its landmarks predicted in its own crop) averaged per landmark by inverse variance with
    the predictions in its crop turned by each of `angles_deg` (0: det's own pass, not run again)
    and, with `mirror`, on the mirror image of each of those crops (`mirror_pass`).  sigma: the
    geometric mean over the passes (passes over one image are not independent evidence, so no more
    certainty is claimed than one pass has); the score (and with it the quality calibrations, made
    on single passes) is unchanged."""
    rois = [dataclasses.replace(det.roi, angle=det.roi.angle + np.radians(a)) for a in angles_deg if a != 0.0]
    mus, sigmas = [np.asarray(det.mu, np.float64)], [np.asarray(det.sigma, np.float64)]
    if rois:
        mu, sigma, _ = predict_in(image, rois, predictor)
        mus += list(mu.astype(np.float64))
        sigmas += list(sigma.astype(np.float64))
    if mirror:
        for r in [det.roi] + rois:
            back, s_back = mirror_pass(image, r, predictor)
            mus.append(back)
            sigmas.append(s_back)
    sigmas = np.stack(sigmas)
    w = 1.0 / sigmas ** 2                                           # (P, L)
    avg = (np.stack(mus) * w[..., None]).sum(0) / w.sum(0)[:, None]
    return dataclasses.replace(det, mu=avg, sigma=np.exp(np.log(sigmas).mean(0)))


def sliding_windows(width: int, height: int, min_side: float, scale_step: float = 0.75,
                    stride: float = 0.25) -> list[Roi]:
    """Upright square windows from the longer image side down to `min_side`, overlapping by
    1 - stride of their side."""
    rois = []
    side = float(max(width, height))
    while side >= min_side:
        def centres(extent):
            if side >= extent:
                return [extent / 2.0]
            n = int(np.ceil((extent - side) / (stride * side))) + 1
            return list(np.linspace(side / 2, extent - side / 2, n))
        rois += [Roi((x, y), side) for y in centres(height) for x in centres(width)]
        side *= scale_step
    return rois


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    area = lambda r: (r[2] - r[0]) * (r[3] - r[1])  # noqa: E731
    return inter / max(area(a) + area(b) - inter, 1e-9)


def nms(items: list, boxes: list, iou: float = 0.3) -> list:
    """Greedy non-maximum suppression over items already sorted best first."""
    kept, kept_boxes = [], []
    for it, b in zip(items, boxes):
        if all(_iou(b, k) <= iou for k in kept_boxes):
            kept.append(it)
            kept_boxes.append(b)
    return kept


def refine(image: np.ndarray, roi: Roi, predictor: lmk.Predictor, iterations: int = 2,
           prefer: Callable[[Detection], bool] | None = None) -> Detection:
    """Re-frame the crop from its own landmarks `iterations` times; keep the most certain crop.
    prefer (a check such as `plausible`): when the crop kept fails it, the most certain of the
    crops tried that pass it instead.  A detector's box for a profile frames a crop ~1.4x the
    one the landmarks give; the network is most certain in that wide crop, which the framing
    check then rejects, while the re-framed crop one step later passes it (AFLW2000-3D dev
    image01782: 73 degrees of yaw, NME 0.10 either way)."""
    mu, sigma, score = predict_in(image, [roi], predictor)
    best = Detection(dataclasses.replace(roi, score=float(score[0])), mu[0], sigma[0], float(score[0]))
    tried = [best]
    for _ in range(iterations):
        r = roi_from_landmarks(best.mu, predictor.landmark_set, prior_angle=best.roi.angle)
        mu, sigma, score = predict_in(image, [r], predictor)
        tried.append(Detection(dataclasses.replace(r, score=float(score[0])), mu[0], sigma[0], float(score[0])))
        if score[0] <= best.score + 0.05:  # accept unless clearly worse (the reframing is the better crop)
            best = tried[-1]
    if prefer is not None and not prefer(best):
        passing = [d for d in tried if prefer(d)]
        if passing:
            best = min(passing, key=lambda d: d.score)
    return best


# A detection's landmarks must frame a crop within this factor of the crop they came from:
# training crops had the face filling 0.62-0.95 of the side around FILL (a factor 1.2 either way),
# so a face much smaller or larger in its crop is outside what the network has seen, whatever
# its sigma says (a 16 px face in a 40 px window on a plain background scored as confident).
FRAMING_TOLERANCE = 1.3
# The face size a detection's landmarks give is an estimate: on the synthetic test set the
# campaign network's box (roi_from_landmarks) over the true one has median 0.97 and 5th
# percentile 0.87 (the first shipped network: 0.97, 0.80).  A face at the `min_face` limit is
# kept while its estimate is within this factor under it, so faces just above the limit are not
# dropped for the network's ~3% shrink.
SIZE_TOLERANCE = 1.15


def plausible(det: Detection, landmark_set: str, min_face: float) -> bool:
    """The detection's own landmarks frame a face of at least `min_face` px (within
    SIZE_TOLERANCE) whose crop agrees with the crop they were predicted in (within
    FRAMING_TOLERANCE)."""
    own = roi_from_landmarks(det.mu, landmark_set, prior_angle=det.roi.angle)
    ratio = own.side / det.roi.side
    return own.side * FILL * SIZE_TOLERANCE >= min_face and 1 / FRAMING_TOLERANCE <= ratio <= FRAMING_TOLERANCE


def search(image: np.ndarray, predictor: lmk.Predictor, max_faces: int = 1, threshold: float | None = None,
           min_face: float | None = None, search_side: int = 640, scale_step: float = 0.7, stride: float = 0.5,
           refine_iterations: int = 2, candidates: int = 4, batch: int = 32) -> list[Detection]:
    """Find faces with the landmark network: detections sorted best first.

    image: (H, W, 3) uint8 RGB.  The windows are scored on a copy whose longer side is at most
    `search_side` (so an 8k photo costs what a small one does); crops for the refined windows come
    from the full-resolution image.  min_face: the smallest face box (pixels of the full image)
    searched for (default: a tenth of the shorter image side, at least 24 px).  threshold: a
    detection's score must be below it (default: the predictor's calibrated `roi_threshold` from
    its manifest, else none), and its landmarks must frame a face of at least min_face whose crop
    agrees with the one they came from (`plausible`).  The grid is coarse (stride half a window, scales 0.7 apart) because
    each of the `candidates` x max_faces best windows is then re-framed from its own landmarks,
    which corrects offsets of that size (training crops vary by +-8% shift and 0.62-0.95 fill).
    batch: windows per network call (one compiled program: another thread's program waits for it).
    """
    h, w = image.shape[:2]
    if min_face is None:
        min_face = max(24.0, min(h, w) / 10.0)
    f = min(1.0, search_side / max(h, w))
    small = cv2.resize(image, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA) if f < 1 \
        else image
    # Windows are never smaller than a quarter of the network's input: below that the crop is
    # an upsampled blur whose sigma means little.
    min_side = max(min_face * f / FILL, predictor.size / 4)
    windows = sliding_windows(small.shape[1], small.shape[0], min_side, scale_step, stride)
    if not windows:   # the image is smaller than the smallest face searched for
        return []
    _, _, scores = predict_in(small, windows, predictor, batch=batch)
    windows = [Roi((r.centre[0] / f, r.centre[1] / f), r.side / f) for r in windows]   # full-image pixels
    return _confirm(image, windows, scores, predictor, max_faces, threshold, min_face, refine_iterations, candidates)


def search_near(image: np.ndarray, roi: Roi, predictor: lmk.Predictor, threshold: float | None = None,
                min_face: float | None = None, shift: float = 0.25, scales=(0.8, 1.0, 1.25),
                refine_iterations: int = 2, candidates: int = 2) -> list[Detection]:
    """Find the face near `roi` (where a track was just lost): windows at its angle and centre
    shifted by -shift, 0, +shift of its side in x and y, at each of `scales` times its side (27
    crops by default, against the full search's hundreds), then refined and checked as `search`
    checks its windows.  Detections best first; at most one."""
    h, w = image.shape[:2]
    if min_face is None:
        min_face = max(24.0, min(h, w) / 10.0)
    cx, cy = roi.centre
    windows = [Roi((cx + dx * roi.side, cy + dy * roi.side), roi.side * k, roi.angle)
               for k in scales for dy in (-shift, 0.0, shift) for dx in (-shift, 0.0, shift)]
    _, _, scores = predict_in(image, windows, predictor)
    return _confirm(image, windows, scores, predictor, 1, threshold, min_face, refine_iterations, candidates)


# A face detector's box (YuNet: brows to chin, cheek to cheek) to the crop the network expects:
# measured on the Hamilton clip as the refined crop against the box (median side 1.6-1.75 x the
# box's size, centre ~7% of it above the box's).  `refine` corrects the rest.  The box's size is
# sqrt(w h), not its longer side: YuNet's boxes for profiles and half-lit faces are tall and
# narrow (198 x 320 px for a 250 px face), and a crop from the longer side framed the face small,
# where the network is most certain and re-framing did not recover (dev photos, own face
# finding, one pass: balanced NME 7.34% -> 7.05%, failures > 10% 9.5 -> 8.5%; the 22 other
# labelled photos, square boxes mostly, 5.86% -> 5.82%).  Frontal boxes are square: unchanged.
BOX_TO_SIDE = 1.65
BOX_TO_CENTRE_Y = -0.07
# The rolls (degrees) at which `find_faces` judges the detector's boxes the network is unsure of.
QUARTER_TURNS = (0.0, 90.0, 180.0, 270.0)


def search_proposals(image: np.ndarray, boxes: np.ndarray, predictor: lmk.Predictor, max_faces: int = 1,
                     threshold: float | None = None, min_face: float | None = None, refine_iterations: int = 2,
                     candidates: int = 4, turns=(0.0,)) -> list[Detection]:
    """Faces where a detector proposed them: boxes (N, 4+) x, y, w, h in image pixels, best first.
    Each becomes a crop framed as training framed heads, is scored by the landmark network, and
    the best `candidates` x max_faces are refined and checked exactly as `search` checks its
    windows (same threshold and `plausible`), so a detector's false box is no face here and a
    true one is framed by the landmarks.  turns (degrees): each box is also judged at these rolls of
    its crop, each roll's crops refined and checked on their own and the most certain detections
    kept (the crops of one box at two rolls overlap wholly: judged together, the refinement of
    all but the best-scored crop would be suppressed before it began).  Detections best first."""
    h, w = image.shape[:2]
    if min_face is None:
        min_face = max(24.0, min(h, w) / 10.0)
    if len(boxes) == 0:
        return []
    upright = []
    for x, y, bw, bh in np.asarray(boxes, np.float64)[:, :4]:
        s = np.sqrt(bw * bh)
        upright.append(Roi((x + bw / 2, y + bh / 2 + BOX_TO_CENTRE_Y * s), BOX_TO_SIDE * s))
    windows = [[dataclasses.replace(r, angle=float(np.radians(t))) for r in upright] for t in turns]
    _, _, scores = predict_in(image, [r for per_turn in windows for r in per_turn], predictor)
    scores = np.reshape(scores, (len(turns), len(upright)))
    dets = [d for per_turn, sc in zip(windows, scores) for d in
            _confirm(image, per_turn, sc, predictor, max_faces, threshold, min_face, refine_iterations, candidates)]
    if len(turns) == 1:
        return dets
    dets.sort(key=lambda d: d.score)
    return nms(dets, [d.roi.box() for d in dets])[:max_faces]


def find_faces(image: np.ndarray, predictor: lmk.Predictor, detector=None, max_faces: int = 1,
               threshold: float | None = None, min_face: float | None = None, order: str = "largest",
               proposals: int = 5, compare_search: bool = True, turns=QUARTER_TURNS) -> list[Detection]:
    """Faces in an image: where `detector` (image -> (N, 4+) boxes, or None) proposes them (up to
    `proposals` boxes judged, `search_proposals`), and by the full `search` when that found fewer
    than max_faces; faces the two both found count once.  order "largest" (default: the photo's
    subject first) or "certain" (the lowest score first).  On the 200 AFLW2000-3D dev photos the
    detector's boxes also choose the right face where the full search alone picked another or a
    patch of background (own-ROI balanced NME 12.2% -> 8.7% with the network of 2026-12-04;
    ground-truth crops 7.8%); on two-person photos the most certain face is often the other person.
    When the network confirms none of the detector's boxes, the boxes are judged again with no
    score threshold (the landmarks must still frame a plausible face) before any full search: the
    threshold is calibrated on synthetic faces and backgrounds, and on real photos profiles score
    like real background patches (a window frame -3.02, headphones -3.05; profiles the detector
    found -2.72, -3.35; threshold -2.75), so the search put faces on the background.  Dev own-ROI
    balanced NME 8.69% -> 8.40% for the shipped network, 11.00% -> 7.93% for campaign 2's step 29,333.
    compare_search (default): in that case the full search runs as well, and the more certain of
    its face and the unsure boxes' is kept; a box the network reads poorly (a profile read facing
    the wrong way, a half-lit face) loses to the face the search frames well.  Dev photos, one
    pass, experiments/face_finder_ab.py: the shipped offline network 6.41% -> 6.27% balanced
    (image00204 35.2% -> 4.6%, image04337 19.3% -> 13.4%, no other photo changed), the real-time
    one 6.65% -> 6.67% (three photos changed: two better, image00392 25.5% -> 30.9%); the other
    22 labelled photos unchanged.  False: the unsure boxes' face is kept and the search runs only
    when they hold none.  turns: the rolls (degrees) at which the unsure boxes are judged
    (`search_proposals`; default the four quarter turns, for faces rolled past the +-30 degrees the
    network was trained on, which the detector finds and the network reads poorly upright).  Dev
    photos, one pass, against compare_search alone: image03123 (rolled 108 degrees) 47% -> 4.6%
    offline and not found -> 4.1% real-time, image03093 10.5% -> 7.9% real-time, image02156 (a
    close-up read at 16% even on its ground-truth crop) 27.9% -> 40.0% offline; no other photo
    changed (experiments/face_finder_ab.py --variants compare_search,turns).  (0,): upright only."""
    ordered(order, [])   # a bad order fails before any work
    dets, unsure = [], False
    if detector is not None:
        boxes = detector(image)
        dets = search_proposals(image, boxes, predictor, max(max_faces, proposals), threshold, min_face)
        if not dets and len(boxes):
            dets = search_proposals(image, boxes, predictor, max(max_faces, proposals), np.inf, min_face, turns=turns)
            unsure = bool(dets)
    if len(dets) < max_faces or (compare_search and unsure):
        dets = sorted(dets + search(image, predictor, max_faces, threshold, min_face), key=lambda d: d.score)
        dets = nms(dets, [d.roi.box() for d in dets])
        if compare_search and unsure:
            dets = dets[:max_faces]
    return ordered(order, dets)[:max_faces]


def ordered(order: str, dets: list[Detection]) -> list[Detection]:
    """dets sorted "largest" first (the shot's subject: photos and the tracker take it) or most
    "certain" first (the lowest score)."""
    if order not in ("largest", "certain"):
        raise ValueError(f"order must be 'largest' or 'certain', not {order!r}")
    return sorted(dets, key=(lambda d: -d.roi.side) if order == "largest" else (lambda d: d.score))


def _confirm(image, windows, scores, predictor, max_faces, threshold, min_face, refine_iterations, candidates):
    """The best `candidates` x max_faces windows under the threshold (after NMS), each refined,
    kept if still under it and `plausible`; NMS again; best first."""
    if threshold is None:
        threshold = predictor.manifest.get("roi_threshold")
    order = np.argsort(scores)
    cand = [windows[i] for i in order if threshold is None or scores[i] < threshold]
    cand = nms(cand, [r.box() for r in cand])[:candidates * max_faces]
    framed = lambda d: plausible(d, predictor.landmark_set, min_face)  # noqa: E731
    dets = [refine(image, r, predictor, refine_iterations, framed) for r in cand]
    dets.sort(key=lambda d: d.score)
    if threshold is not None:
        dets = [d for d in dets if d.score < threshold]
    dets = [d for d in dets if framed(d)]
    dets = nms(dets, [d.roi.box() for d in dets])
    return dets[:max_faces]


if __name__ == "__main__":
    m = _model()
    names = m.landmark_regions["703"]
    roi_ids = np.asarray([v for v, n in zip(np.asarray(m.landmarks["703"]), names) if n != "neck"])
    ratios = {s: [] for s in m.landmarks}
    for i in range(40):
        sc = scenes.sample_scene(jax.random.key(i), m, 256)
        px = np.asarray(fm.project_points(sc.camera, fm.vertices(m, sc.params)))
        big = np.max(px[roi_ids].max(0) - px[roi_ids].min(0))
        for s in m.landmarks:
            keep = _set_info(s, len(m.landmarks[s]))[0]
            p = px[np.asarray(m.landmarks[s])[keep]]
            ratios[s].append(big / np.max(p.max(0) - p.min(0)))
    print({s: round(float(np.median(r)), 3) for s, r in ratios.items()})
