"""Landmark accuracy on real photographs: the AFLW2000-3D protocol.

Layout: DIR/imageXXXXX.jpg with DIR/imageXXXXX.mat holding `pt3d_68` (3 x 68: x, y in pixels, z)
and `Pose_Para` (pitch, yaw, roll in radians first).  Protocol: the mean 2D error over the 68 points
divided by sqrt(w h) of the ground-truth landmark box; |yaw| bins [0, 30), [30, 60), [60, 90]
degrees and their balanced mean.  dlm's dense sets start with ICT's 68 points, which are compared
with AFLW2000-3D's 68 without label translation.

AFLW2000-3D coordinates are taken as 0-based pixel indices (a pixel's centre at an integer, as in
the MATLAB-to-Python conversions of 3DDFA and PRNet), so 0.5 is added to match dlm's convention.
"""
from __future__ import annotations

import glob
import os

import numpy as np

from dlm.landmarks import predictor as lmk

# The square ROI from a 68-point box that frames a face as training does: side = ROI_SCALE x the
# box's longer side, centre shifted by ROI_SHIFT x that side (median over 128 synthetic training
# crops; `experiments` scripts and the README say how it was measured).
ROI_SCALE = 1.96
ROI_SHIFT = (0.0, -0.13)
YAW_BINS = ((0.0, 30.0), (30.0, 60.0), (60.0, 90.01))
FAILURE_NME = 0.10


def roi_from_box(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, float]:
    """(centre (2,), side) of the square crop for a 68-landmark box [lo, hi] (pixels)."""
    side = float(np.max(hi - lo))
    centre = (lo + hi) / 2 + np.asarray(ROI_SHIFT) * side
    return centre, ROI_SCALE * side


def crop_transform(centre: np.ndarray, side: float, size: int) -> np.ndarray:
    """2 x 3 affine map from image pixels to crop pixels (continuous coordinates, centres at +0.5)."""
    s = size / side
    return np.array([[s, 0.0, size / 2 - s * centre[0]], [0.0, s, size / 2 - s * centre[1]]])


def warp_crop(image: np.ndarray, transform: np.ndarray, size: int) -> np.ndarray:
    """Crop with cv2.warpAffine; cv2 samples at integer coordinates, so shift by half a pixel."""
    import cv2
    a = transform.copy()
    a[:, 2] += a[:, :2].sum(1) * 0.5 - 0.5
    return cv2.warpAffine(image, a, (size, size), flags=cv2.INTER_AREA if a[0, 0] < 1 else cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)


def read_aflw2000(directory):
    """[(name, image path, landmarks (68, 2) dlm pixels, yaw degrees)] sorted by name; raises
    FileNotFoundError / ValueError naming the file."""
    from scipy.io import loadmat
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


def eval_aflw2000(directory, model="offline", roi: str = "gt", progress=None) -> dict:
    """roi "gt": crop framed by the ground-truth 68-point box (ROI_SCALE, ROI_SHIFT); "auto": dlm's
    own ROI search (`dlm.product.roi.search`, no detector, no ground truth): images where it finds no
    face are failures and are left out of the NME (`detection_rate` says how many)."""
    import cv2
    from dlm.product import roi as roi_lib
    if roi not in ("gt", "auto"):
        raise ValueError(f"roi must be 'gt' or 'auto', not {roi!r}")
    pred = model if isinstance(model, lmk.Predictor) else lmk.shipped(str(model))
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
            centre, side = roi_from_box(lo, hi)
            a = crop_transform(centre, side, pred.size)
            crop = warp_crop(image, a, pred.size)
            mu, sigma = pred(crop[None])
            mu = np.asarray(mu[0, :68], np.float64)
            pts = (mu - a[:, 2]) / a[0, 0]  # back to image pixels
            sig = np.asarray(sigma[0, :68]) / a[0, 0]
        else:
            dets = roi_lib.search(np.ascontiguousarray(image), pred, max_faces=1)
            if not dets:
                failures.append(dict(image=name, reason="no face found"))
                if progress:
                    progress(k + 1, len(items))
                continue
            pts, sig = np.asarray(dets[0].mu[:68], np.float64), np.asarray(dets[0].sigma[:68])
        box = hi - lo
        nme = float(np.mean(np.linalg.norm(pts - gt, axis=1)) / np.sqrt(box[0] * box[1]))
        per_image.append(dict(image=name, yaw_deg=yaw, nme=nme, mean_sigma_px=float(np.mean(sig))))
        if nme > FAILURE_NME:
            failures.append(dict(image=name, reason=f"NME {nme:.3f} > {FAILURE_NME}"))
        if progress:
            progress(k + 1, len(items))
    bins = {}
    for lo_b, hi_b in YAW_BINS:
        vals = [r["nme"] for r in per_image if lo_b <= abs(r["yaw_deg"]) < hi_b]
        bins[f"{int(lo_b)}-{int(min(hi_b, 90))}"] = dict(nme=float(np.mean(vals)) if vals else None, count=len(vals))
    filled = [b["nme"] for b in bins.values() if b["nme"] is not None]
    return dict(protocol="AFLW2000-3D, 68 points, NME / sqrt(w h) of the ground-truth box", roi=roi,
                model=pred.manifest.get("config", {}), weights_sha256=pred.manifest.get("sha256"),
                num_images=len(items), num_evaluated=len(per_image),
                detection_rate=len(per_image) / max(len(items), 1),
                nme_mean=float(np.mean([r["nme"] for r in per_image])) if per_image else None,
                nme_balanced=float(np.mean(filled)) if len(filled) == len(YAW_BINS) else None,
                nme_balanced_note=None if len(filled) == len(YAW_BINS) else "a yaw bin is empty",
                yaw_bins=bins, failure_rate_10=sum(r["nme"] > FAILURE_NME for r in per_image) / max(len(per_image), 1),
                failures=failures, per_image=per_image)
