"""Two networks on one photo: does combining the offline (703-point) and real-time (320-point)
networks' landmarks lower the real-photo error below either alone?

    python experiments/ensemble_probe.py                       # the two shipped networks
    python experiments/ensemble_probe.py --passes mirror --json results/ensemble_probe_mirror.json

The two networks differ in width, landmark set and training history (ImageNet features against
random initialisation), so their errors need not coincide.  Each network predicts in the
ground-truth crop (`aflw2000.roi_from_box`) with the photo path's test-time passes (`--passes`:
`photo` = `roi.averaged`'s turned crops and mirror images, six passes; `mirror`: two; `single`: one);
the 68 ICT points, which both sets begin with, are then combined per landmark:
- `inverse_variance`: weights 1 / sigma^2 from each network's own sigma;
- `mean`: equal weights (in case one network's sigmas are scaled unlike the other's);
- `inverse_variance_calibrated`: each network's sigmas first scaled so that its normalised squared
  errors average 2 on the synthetic held-out renders would be the principled fix, but needs renders;
  here each network's sigmas are divided by their median over the 68 points and all photos, which
  removes a global scale difference between the networks and keeps the per-landmark ranking.
Scores: the AFLW2000-3D protocol on `../shared/real/aflw2000_dev` (balanced NME, yaw bins, inner 51,
failures) and the other labelled photos.  Records config, git revision and results in
experiments/results/ensemble_probe.{json,md}.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
HERE = Path(__file__).resolve().parent

PASSES = {"single": ((0.0,), False), "mirror": ((0.0,), True), "photo": (None, True)}


def predict(image, roi, pred, passes):
    """(mu (68, 2), sigma (68,)) image pixels from one network with the given test-time passes."""
    from dlm.product import roi as roi_lib
    angles, mirror = PASSES[passes]
    mu, sigma, score = roi_lib.predict_in(image, [roi], pred)
    det = roi_lib.Detection(roi, np.asarray(mu[0], np.float64), np.asarray(sigma[0], np.float64), float(score[0]))
    det = roi_lib.averaged(image, det, pred, **({} if angles is None else dict(angles_deg=angles)), mirror=mirror)
    return det.mu[:68], det.sigma[:68]


def combine(mus, sigmas, how, scales=None):
    """Per-landmark combination of the networks' (68, 2) means."""
    mus, sigmas = np.stack(mus), np.stack(sigmas)                  # (N, 68, 2), (N, 68)
    if how == "mean":
        w = np.ones_like(sigmas)
    elif how == "inverse_variance":
        w = 1.0 / sigmas ** 2
    else:
        w = 1.0 / (sigmas / np.asarray(scales)[:, None]) ** 2
    return (mus * w[..., None]).sum(0) / w.sum(0)[:, None]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="offline,realtime", help="two or more landmark models: shipped names or .npz")
    ap.add_argument("--passes", default="photo", choices=sorted(PASSES), help="test-time passes per network")
    ap.add_argument("--real", default=None, help="the labelled-photo folder (default: ../shared/real)")
    ap.add_argument("--json", default=str(HERE / "results" / "ensemble_probe.json"))
    args = ap.parse_args(argv)
    from common import PHOTO_SCORE_HEADER, labelled_photos, photo_score_cells, photo_scores
    from dlm.eval import aflw2000
    from dlm.io.files import write_json, write_text
    from dlm.io.provenance import environment
    from dlm.landmarks import predictor as lmk
    photos = labelled_photos("ensemble_probe", args.real)
    if photos is None:
        return 2
    real, dev, others, images = photos
    names = [m for m in args.models.split(",") if m]
    if len(names) < 2:
        print("ensemble_probe: --models needs two or more models", file=sys.stderr)
        return 2
    preds = [lmk.shipped(m) if not m.endswith(".npz") else lmk.Predictor.load(m) for m in names]
    rows = [(n, p, gt, yaw, "dev") for n, p, gt, yaw in dev] + [(o[1], o[2], o[3], None, o[0]) for o in others]
    t0 = time.perf_counter()
    out = [[predict(images[p], aflw2000.roi_from_box(gt.min(0), gt.max(0)), pr, args.passes) for pr in preds]
           for _, p, gt, _, _ in rows]
    seconds = time.perf_counter() - t0
    # Each network's global sigma scale: its median sigma over every point of every photo (no labels used).
    scales = [float(np.median([o[i][1] / np.linalg.norm(np.ptp(o[i][0], 0)) for o in out])) for i in range(len(preds))]
    variants = {n: (lambda o, i=i: o[i][0]) for i, n in enumerate(names)}
    for how in ("mean", "inverse_variance", "inverse_variance_calibrated"):
        variants[how] = (lambda o, how=how: combine([x[0] for x in o], [x[1] for x in o], how, scales))
    results = {}
    for vname, fn in variants.items():
        per_image, other_nme = [], []
        for (img_name, _, gt, yaw, src), o in zip(rows, out):
            mu = fn(o)
            if src == "dev":
                err = aflw2000.normalised_errors(mu, gt)
                per_image.append(dict(image=img_name, yaw_deg=yaw, nme=float(err.mean()), nme_inner51=float(err[17:].mean())))
            else:
                other_nme.append(float(aflw2000.nme(mu, gt)))
        r = results[vname] = photo_scores(per_image, other_nme)
        print(f"{vname}: dev balanced {100 * r['nme_balanced']:.2f}%, inner 51 {100 * r['nme_inner51']:.2f}%, "
              f"others {100 * r['others_nme_mean']:.2f}%", flush=True)
    write_json(args.json, dict(experiment="ensemble_probe", models=names, passes=args.passes,
                               weights_sha256=[p.manifest.get("sha256") for p in preds], sigma_scales=scales,
                               real=str(real), environment=environment(), results=results, seconds=seconds,
                               command="python experiments/ensemble_probe.py " + " ".join(argv or sys.argv[1:])))
    table = [f"| combination | {PHOTO_SCORE_HEADER} |", "|---|---|---|---|---|---|"]
    table += [f"| {vname} | {photo_score_cells(r)} |" for vname, r in results.items()]
    write_text(Path(args.json).with_suffix(".md"),
               f"Two landmark networks combined per landmark on the dev photos (`aflw2000_dev`, ground-truth crops, "
               f"ICT's 68 points untranslated); models {', '.join(f'`{n}`' for n in names)}, test-time passes "
               f"`{args.passes}` per network. Command: `python experiments/ensemble_probe.py --passes {args.passes}`.\n\n"
               + "\n".join(table) + "\n")
    print("\n".join(table))
    return 0


if __name__ == "__main__":
    sys.exit(main())
