"""Fit the label translation from a network's dense landmarks to AFLW2000-3D's 68 points.

    python experiments/label_translation.py --model realtime --write-manifest     # ~1 min, 2-core CPU

Why (dlm.eval.label_translation): ICT's 68 points are not AFLW2000-3D's 68; the jaw most of all
(defined further forward on the cheek), which costs ~0.2 face sizes on profiles.  The paper
reports its 300-W figures through a label translation too.

Data: the 200 dev photos (`../shared/real/aflw2000_dev`) cropped from their ground-truth boxes
as `dlm eval aflw2000 --roi gt` crops them; the network's dense landmarks there.  Each of the 68
becomes its own point plus a ridge-fitted combination of its K nearest landmarks of the dense set
(on the template).  K and the ridge are chosen by two-fold cross-validation over the dev photos
(folds by a seeded permutation), then the translation is refitted on all 200.  The figures that
say whether it transfers: the cross-validated dev NME (each photo translated by coefficients that
never saw it) and the 16 AFLW2000-3D photos of `../shared/real/aflw2000_sample`, never used in
fitting.  --write-manifest stores the table as `label_translation.aflw2000_68` in the model's
manifest, where `dlm eval aflw2000` applies it (and reports the untranslated figures beside it).
Writes experiments/results/label_translation_<model>.{json,md}.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
HERE = Path(__file__).resolve().parent
GRID_K = (8, 16, 32, 64)
GRID_RIDGE = (1e-3, 1e-2, 1e-1)
SEED = 38


def dense_on_gt_crops(pred, directory: str):
    """(mu (N, L, 2) px, truth (N, 68, 2), |yaw| (N,), names) on the ground-truth crops."""
    import cv2
    from dlm.eval import aflw2000
    from dlm.product import roi as roi_lib
    mus, truths, yaws, names = [], [], [], []
    for name, path, gt, yaw in aflw2000.read_aflw2000(directory):
        image = cv2.imread(path, cv2.IMREAD_COLOR)
        if image is None:
            continue
        box = aflw2000.roi_from_box(gt.min(0), gt.max(0))
        mu, _ = pred(roi_lib.crop(image[..., ::-1], box, pred.size)[None])
        mus.append(box.to_image(np.asarray(mu[0], np.float64), pred.size))
        truths.append(gt)
        yaws.append(abs(yaw))
        names.append(name)
    return np.asarray(mus), np.asarray(truths), np.asarray(yaws), names


def protocol(points: np.ndarray, truth: np.ndarray, yaws: np.ndarray) -> dict:
    """Balanced NME (None when a bin is empty), the bins, the mean, as `dlm eval aflw2000`."""
    from dlm.eval import aflw2000
    recs = [dict(yaw_deg=y, nme=float(np.mean(e)), nme_inner51=float(np.mean(e[17:])))
            for y, e in zip(yaws, (aflw2000.normalised_errors(p, g) for p, g in zip(points, truth)))]
    s = aflw2000.scores(recs)
    return dict(nme_balanced=s["nme_balanced"], nme_mean=s["nme_mean"], nme_inner51=s["nme_inner51_mean"],
                failure_rate_10=s["failure_rate_10"], yaw_bins={k: v["nme"] for k, v in s["yaw_bins"].items()},
                num_images=len(recs))


def norms(truth: np.ndarray) -> np.ndarray:
    box = truth.max(1) - truth.min(1)
    return np.sqrt(box[:, 0] * box[:, 1])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="realtime", help="shipped name or weights .npz")
    ap.add_argument("--real", default=None, help="the real-photo folder (default ../shared/real)")
    ap.add_argument("--write-manifest", action="store_true")
    args = ap.parse_args(argv)
    from common import record, markdown_table, write_table
    from dlm.core import facemodel as fm
    from dlm.eval import label_translation as lt
    from dlm.io.files import write_json
    from dlm.io.provenance import shared_real_path
    from dlm.landmarks import predictor as lmk
    t0 = time.time()
    real = Path(args.real) if args.real else Path(shared_real_path("."))
    dev_dir, check_dir = real / "aflw2000_dev", real / "aflw2000_sample"
    if not dev_dir.is_dir():
        print(f"label_translation: {dev_dir}: no such folder (the translation is fitted on the dev photos)",
              file=sys.stderr)
        return 2
    shipped = "/" not in args.model and not args.model.endswith(".npz")
    name = lmk.SHIPPED[lmk.resolve_shipped(args.model)] if shipped else Path(args.model).stem
    pred = lmk.Predictor.load(name if shipped else args.model)
    template = np.asarray(fm.load_face_model().template)[np.asarray(fm.load_face_model().landmarks[pred.landmark_set])]

    mu, truth, yaws, _ = dense_on_gt_crops(pred, str(dev_dir))
    keep = yaws < 90.01                  # the protocol's bins end at 90 degrees
    mu, truth, yaws = mu[keep], truth[keep], yaws[keep]
    fold = np.random.default_rng(SEED).permutation(len(mu)) % 2
    grid = []
    for k in GRID_K:
        nb = lt.neighbours(template, k)
        for ridge in GRID_RIDGE:
            out = np.zeros_like(truth)
            for f in (0, 1):
                coef = lt.fit(mu[fold != f], truth[fold != f], norms(truth[fold != f]), nb, ridge)
                out[fold == f] = lt.apply(mu[fold == f], nb, coef)
            grid.append(dict(k=k, ridge=ridge, cv=protocol(out, truth, yaws)))
            print(f"K {k:3d} ridge {ridge:g}: dev two-fold balanced NME {grid[-1]['cv']['nme_balanced']:.4f}", flush=True)
    best = min(grid, key=lambda g: g["cv"]["nme_balanced"])
    nb = lt.neighbours(template, best["k"])
    coef = lt.fit(mu, truth, norms(truth), nb, best["ridge"])
    res = dict(model=name, dev=str(dev_dir), num_photos=int(len(mu)), seed=SEED, k=best["k"], ridge=best["ridge"],
               dev_raw=protocol(mu[:, :68], truth, yaws), dev_cv=best["cv"],
               dev_in_sample=protocol(lt.apply(mu, nb, coef), truth, yaws), grid=grid,
               max_abs_coef=float(np.abs(coef).max()))
    if check_dir.is_dir():
        cmu, ctruth, cyaws, _ = dense_on_gt_crops(pred, str(check_dir))
        ck = cyaws < 90.01
        res.update(check=str(check_dir), check_raw=protocol(cmu[ck, :68], ctruth[ck], cyaws[ck]),
                   check_translated=protocol(lt.apply(cmu[ck], nb, coef), ctruth[ck], cyaws[ck]))
    config = dict(model=name, grid_k=list(GRID_K), grid_ridge=list(GRID_RIDGE), seed=SEED, crop="ground-truth box")
    rec = record(f"label_translation_{name}", config, res, started=t0)

    def row(label, r):
        b = r["yaw_bins"]
        return [label, r["num_images"], *(f"{100 * b[k]:.2f}%" if b[k] is not None else "-" for k in b),
                f"{100 * r['nme_balanced']:.2f}%" if r["nme_balanced"] is not None else "n/a (a bin is empty)",
                f"{100 * r['nme_mean']:.2f}%", f"{100 * r['nme_inner51']:.2f}%"]
    rows = [row("dev, ICT's 68 untranslated", res["dev_raw"]),
            row(f"dev, translated, two-fold cross-validated (K {best['k']}, ridge {best['ridge']:g})", res["dev_cv"]),
            row("dev, translated by the table fitted on all of it (in-sample)", res["dev_in_sample"])]
    if "check_raw" in res:
        rows += [row("aflw2000_sample (never fitted on), untranslated", res["check_raw"]),
                 row("aflw2000_sample, translated", res["check_translated"])]
    table = markdown_table(["photos, 68 points", "images", "0-30", "30-60", "60-90", "balanced NME", "mean NME",
                            "inner 51"], rows)
    write_table(f"label_translation_{name}",
                f"Label translation of `{name}`'s dense landmarks to AFLW2000-3D's 68 points, fitted on the dev "
                f"photos' ground-truth crops (each point: its own position plus a ridge-fitted combination of its K "
                f"nearest dense landmarks; K and ridge by two-fold cross-validation)", rec, table)
    print(table)
    if args.write_manifest:
        mpath = (lmk.WEIGHTS_DIR / f"{name}.json") if shipped else Path(args.model).with_suffix(".json")
        manifest = json.loads(mpath.read_text())
        manifest.setdefault("label_translation", {})["aflw2000_68"] = dict(
            fitted_on=dev_dir.name, num_photos=res["num_photos"], k=best["k"], ridge=best["ridge"],
            dev_nme_balanced_raw=res["dev_raw"]["nme_balanced"], dev_nme_balanced_cv=res["dev_cv"]["nme_balanced"],
            git_revision=rec["git_revision"], neighbours=nb.tolist(), coef=np.round(coef, 6).tolist())
        write_json(mpath, manifest)
        print(f"wrote label_translation.aflw2000_68 into {mpath}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
