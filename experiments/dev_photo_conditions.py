"""Which real photos the landmark network gets wrong: the dev photos' error by photo condition.

    python experiments/dev_photo_conditions.py                      # the shipped offline network
    python experiments/dev_photo_conditions.py --model realtime
    python experiments/dev_photo_conditions.py --model PATH.npz --name dev_photo_conditions_PATH

The AFLW2000-3D protocol on `../shared/real/aflw2000_dev` (ground-truth crops, one pass, as the
campaigns score checkpoints), then each photo's conditions, measured from the photo and its label
file alone (no judgement by eye):
  - monochrome: the face box's mean colour difference (|R - B| + |G - B|, 0-255) under 6;
  - deep shadow: over 20% of the face box's pixels darker than 40 of 255 (luminance);
  - pitched, rolled: |pitch| or |roll| of the label's Pose_Para over 20 degrees (the angles taken
    as the rotation's triple with |pitch| <= 90, `canonical_angles`).
Yaw decides most of the error and the conditions are not spread evenly over yaw, so each condition
is compared yaw-balanced: the mean NME of the photos with it and of those without it in each of
the protocol's yaw bins, then the mean over the bins where both have photos ("balanced, shared
bins"), as the protocol balances yaw.  Reported for ICT's 68 points as they are (what the campaigns
track, `raw`) and translated to AFLW2000-3D's 68 (the model's stored label translation, fitted on
these photos: in-sample).  Also the 15 photos with the largest error and their conditions.
Records config, git revision and results in experiments/results/NAME.{json,md}.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import markdown_table, record, start, write_table  # noqa: E402

CONDITIONS = ("monochrome", "deep_shadow", "pitched", "rolled")
MONOCHROME_MAX_COLOUR = 6.0     # mean |R - B| + |G - B| over the face box, 0-255
SHADOW_LEVEL, SHADOW_SHARE = 40.0, 0.20
POSE_DEG = 20.0


def get_config(quick: bool) -> dict:
    return dict(model="offline", dir="../shared/real/aflw2000_dev", worst=15)


def canonical_angles(pitch: float, yaw: float, roll: float) -> tuple:
    """Euler angles (degrees) wrapped to [-180, 180) and, where |pitch| > 90, replaced by the same
    rotation's other triple (pitch + 180, 180 - yaw, roll + 180): some label files store near-profile
    heads as pitch and roll of +-130 or wrapped several turns (-714, -972), which are the same
    rotation as a small pitch and roll."""
    wrap = lambda a: (a + 180.0) % 360.0 - 180.0  # noqa: E731
    p, y, r = wrap(pitch), wrap(yaw), wrap(roll)
    if abs(p) > 90.0:
        p, y, r = wrap(p + 180.0), wrap(180.0 - y), wrap(r + 180.0)
    return float(p), float(y), float(r)


def photo_conditions(image_bgr: np.ndarray, gt: np.ndarray, pose_para: np.ndarray) -> dict:
    """The conditions of one photo from its pixels inside the 68-point box and its label's pose
    (Pose_Para: pitch, yaw, roll in radians first)."""
    h, w = image_bgr.shape[:2]
    lo = np.clip(np.floor(gt.min(0)).astype(int), 0, [w - 1, h - 1])
    hi = np.clip(np.ceil(gt.max(0)).astype(int), 1, [w, h])
    face = image_bgr[lo[1]:hi[1], lo[0]:hi[0]].astype(np.float64)
    if face.size == 0:
        face = image_bgr.astype(np.float64)
    b, g, r = face[..., 0], face[..., 1], face[..., 2]
    colour = float(np.mean(np.abs(r - b)) + np.mean(np.abs(g - b)))
    luma = 0.299 * r + 0.587 * g + 0.114 * b
    dark = float(np.mean(luma < SHADOW_LEVEL))
    pitch, _, roll = canonical_angles(*np.degrees(np.asarray(pose_para, np.float64).ravel()[:3]))
    return dict(colour=colour, dark_share=dark, pitch_deg=float(pitch), roll_deg=float(roll),
                monochrome=bool(colour < MONOCHROME_MAX_COLOUR), deep_shadow=bool(dark > SHADOW_SHARE),
                pitched=bool(abs(pitch) > POSE_DEG), rolled=bool(abs(roll) > POSE_DEG))


def compare(rows: list, condition: str, key: str, bins) -> dict:
    """Photos with and without `condition`: count, mean NME, failures (> 10%), and the yaw-balanced
    means over the bins where both have photos."""
    on = [r for r in rows if r[condition]]
    off = [r for r in rows if not r[condition]]
    shared_on, shared_off, per_bin = [], [], {}
    for lo_b, hi_b in bins:
        a = [r[key] for r in on if lo_b <= abs(r["yaw_deg"]) < hi_b]
        c = [r[key] for r in off if lo_b <= abs(r["yaw_deg"]) < hi_b]
        per_bin[f"{int(lo_b)}-{int(min(hi_b, 90))}"] = dict(
            with_count=len(a), with_nme=float(np.mean(a)) if a else None,
            without_count=len(c), without_nme=float(np.mean(c)) if c else None)
        if a and c:
            shared_on.append(np.mean(a))
            shared_off.append(np.mean(c))
    return dict(with_count=len(on), without_count=len(off),
                with_nme_mean=float(np.mean([r[key] for r in on])) if on else None,
                without_nme_mean=float(np.mean([r[key] for r in off])) if off else None,
                with_failures=sum(r[key] > 0.10 for r in on), without_failures=sum(r[key] > 0.10 for r in off),
                shared_bins=len(shared_on),
                with_nme_balanced=float(np.mean(shared_on)) if shared_on else None,
                without_nme_balanced=float(np.mean(shared_off)) if shared_off else None,
                yaw_bins=per_bin)


def main(argv=None):
    run = start(__doc__, get_config, "dev_photo_conditions", argv, overrides=("model", "dir", "worst"))
    import cv2
    from scipy.io import loadmat
    from dlm.eval import aflw2000

    cfg = run.config
    res = aflw2000.eval_aflw2000(cfg["dir"], model=cfg["model"], roi="gt", keep_points=True)
    rows = []
    for r in res["per_image"]:
        path = Path(cfg["dir"]) / r["image"]
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        pose = loadmat(str(path.with_suffix(".mat")))["Pose_Para"]
        rows.append(dict(image=r["image"], yaw_deg=r["yaw_deg"], nme=r["nme"], nme_raw=r["nme_raw"],
                         **photo_conditions(image, np.asarray(r["gt"]), pose)))
    translated = res["raw"] is not None
    results = dict(weights_sha256=res["weights_sha256"], num_photos=len(rows),
                   nme_balanced_raw=(res["raw"] or res)["nme_balanced"],
                   nme_balanced_translated=res["nme_balanced"] if translated else None,
                   conditions={c: dict(raw=compare(rows, c, "nme_raw", aflw2000.YAW_BINS),
                                       translated=compare(rows, c, "nme", aflw2000.YAW_BINS) if translated else None)
                               for c in CONDITIONS},
                   worst=sorted(rows, key=lambda r: -r["nme_raw"])[:cfg["worst"]], per_photo=rows)
    rec = record(run.name, cfg, results, started=run.started)

    pct = lambda v: None if v is None else round(100 * v, 2)  # noqa: E731
    table = []
    for c in CONDITIONS:
        for which in ("raw", "translated"):
            s = results["conditions"][c][which]
            if s is None:
                continue
            table.append([c, "ICT 68" if which == "raw" else "translated", f"{s['with_count']} / {s['without_count']}",
                          pct(s["with_nme_balanced"]), pct(s["without_nme_balanced"]), s["shared_bins"],
                          pct(s["with_nme_mean"]), pct(s["without_nme_mean"]),
                          f"{s['with_failures']} / {s['without_failures']}"])
    worst = [[r["image"], round(100 * r["nme_raw"], 1), round(r["yaw_deg"]), round(r["pitch_deg"]),
              round(r["roll_deg"]), ", ".join(c for c in CONDITIONS if r[c]) or "-"] for r in results["worst"]]
    write_table(run.name, f"The {len(rows)} dev photos by condition, network `{cfg['model']}` "
                          f"(sha256 {str(res['weights_sha256'])[:8]}...; balanced NME {pct(results['nme_balanced_raw'])}% "
                          f"ICT 68)", rec,
                markdown_table(["condition", "points", "photos with / without", "NME % with (yaw-balanced)",
                                "without (yaw-balanced)", "shared yaw bins", "NME % with (mean)", "without (mean)",
                                "failures > 10% with / without"], table),
                "\nThe photos with the largest error (ICT 68, untranslated):\n\n" +
                markdown_table(["photo", "NME %", "yaw", "pitch", "roll", "conditions"], worst))
    print((Path(__file__).resolve().parent / "results" / f"{run.name}.md").read_text())


if __name__ == "__main__":
    main()
