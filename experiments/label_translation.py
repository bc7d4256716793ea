"""Fit the label translation from a network's dense landmarks to AFLW2000-3D's 68 points.

    python experiments/label_translation.py --model realtime --write-manifest     # ~1 min, 2-core CPU

Why (dlm.landmarks.label_translation): ICT's 68 points are not AFLW2000-3D's 68; the jaw most of all
(defined further forward on the cheek), which costs ~0.2 face sizes on profiles.  The paper
reports its 300-W figures through a label translation too.

Data: the 200 dev photos (`../shared/real/aflw2000_dev`) cropped from their ground-truth boxes
as `dlm eval aflw2000 --roi gt` crops them; the network's dense landmarks there.  Each of the 68
becomes its own point plus a ridge-fitted combination of its K nearest landmarks of the dense set
(on the template), the coefficients optionally a polynomial in the head's yaw as read from the
landmarks (DEGREES) and optionally shared by mirror pairs, fitted on the photos and their mirror
images (MIRROR; `dlm.landmarks.label_translation`).  K, ridge, degree and mirror sharing are chosen by
ten-fold cross-validation over the dev photos (folds by a seeded permutation), then the
translation is refitted on all 200.  The figures that say whether it transfers: nested
cross-validation (each outer tenth translated by the choice and coefficients made on the other
nine tenths, the choice by two-fold cross-validation within them: what a photo never seen gets,
choice included), the chosen setting's ten-fold figure, and the 16 AFLW2000-3D photos of
`../shared/real/aflw2000_sample`, never used in fitting or choosing.  --write-manifest stores the
table as `label_translation.aflw2000_68` in the model's manifest, where `dlm eval aflw2000`
applies it (and reports the untranslated figures beside it).
Writes experiments/results/label_translation_<model>.{json,md}.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
HERE = Path(__file__).resolve().parent
GRID_K = (32, 64, 128)
GRID_RIDGE = (1e-2, 1e-1)
DEGREES = (0, 1, 2)
MIRROR = (False, True)
FOLDS = 10
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


YAW_EDGES = ((0.0, 30.0), (30.0, 60.0), (60.0, 90.01))


def regions(points: np.ndarray, truth: np.ndarray, yaws: np.ndarray) -> dict:
    """Each part's mean normalised error per yaw bin, and its share of the balanced NME (the part's
    points' summed error over 68, averaged over the bins as the balanced NME averages them)."""
    from dlm.core.landmark_sets import MULTIPIE_REGIONS      # the 68 points' parts
    err = np.linalg.norm(points - truth, axis=2) / norms(truth)[:, None]
    bins = [(yaws >= lo) & (yaws < hi) for lo, hi in YAW_EDGES]
    names = np.asarray(MULTIPIE_REGIONS)
    out = {}
    for name in dict.fromkeys(MULTIPIE_REGIONS):
        part = names == name
        out[name] = dict(yaw_bins=[float(err[m][:, part].mean()) for m in bins],
                         share_of_balanced=float(np.mean([err[m][:, part].sum(1).mean() / 68 for m in bins])))
    return out


def norms(truth: np.ndarray) -> np.ndarray:
    box = truth.max(1) - truth.min(1)
    return np.sqrt(box[:, 0] * box[:, 1])


class Points(NamedTuple):
    """What the translation needs to know of a method's landmarks: the template its neighbours are
    chosen on (L, 2 or 3), its mirror permutation (L,) or None (then no mirror sharing), the dense
    landmark each of the 68 starts from (base (68,), None: the first 68) and the 3D template of
    those 68 that the yaw is read against (ICT's 68 for dlm and for a peer mapped to them)."""
    template: np.ndarray
    mirror: np.ndarray | None
    base: np.ndarray | None
    yaw_template: np.ndarray


def settings_grid() -> list[dict]:
    return [dict(k=k, ridge=r, degree=d, mirror=m) for m in MIRROR for d in DEGREES for k in GRID_K for r in GRID_RIDGE]


def fit_setting(setting: dict, points: Points, mu: np.ndarray, truth: np.ndarray):
    """(neighbours, coef) of one setting fitted on photos mu (N, L, 2), truth (N, 68, 2); with
    setting["mirror"], also on their mirror images (AFLW2000-3D's 68 mirrored as dlm's first 68 are)."""
    from dlm.landmarks import label_translation as lt
    from dlm.product import roi as roi_lib
    if setting["mirror"]:
        mirror68 = roi_lib.mirror_permutation("68")
        nb = lt.symmetric_neighbours(points.template, setting["k"], points.mirror, base=points.base,
                                     mirror_points=mirror68)
        mm, mt = lt.mirrored(mu, truth, points.mirror, mirror68)
        mu, truth = np.concatenate([mu, mm]), np.concatenate([truth, mt])
    else:
        nb = lt.neighbours(points.template, setting["k"], base=points.base)
    yaw = lt.yaw_proxy(lt.own_points(mu, 68, points.base), points.yaw_template) if setting["degree"] else None
    return nb, lt.fit(mu, truth, norms(truth), nb, setting["ridge"], points.base, yaw=yaw, degree=setting["degree"])


def translate_table(table, points: Points, mu: np.ndarray) -> np.ndarray:
    from dlm.landmarks import label_translation as lt
    return lt.translate(mu, table, points.yaw_template, points.base)


def cross_validated(setting: dict, points: Points, mu: np.ndarray, truth: np.ndarray, folds: int, seed: int):
    """(N, 68, 2) every photo translated by the setting fitted on the other folds (seeded folds)."""
    fold = np.random.default_rng(seed).permutation(len(mu)) % folds
    out = np.zeros((len(mu), 68, 2))
    for f in range(folds):
        tr, te = fold != f, fold == f
        out[te] = translate_table(fit_setting(setting, points, mu[tr], truth[tr]), points, mu[te])
    return out


def choose_setting(points: Points, mu, truth, yaws, folds: int = FOLDS, seed: int = SEED, quiet: bool = False):
    """(the setting with the lowest cross-validated balanced NME, every setting with its figures)."""
    grid = []
    for setting in settings_grid():
        if setting["mirror"] and points.mirror is None:
            continue
        cv = protocol(cross_validated(setting, points, mu, truth, folds, seed), truth, yaws)
        grid.append(dict(setting, cv=cv))
        if not quiet:
            print(f"{setting}: dev {folds}-fold balanced NME {cv['nme_balanced']:.4f}", flush=True)
    best = min(grid, key=lambda g: g["cv"]["nme_balanced"])
    return {k: best[k] for k in ("k", "ridge", "degree", "mirror")}, grid


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="realtime", help="shipped name or weights .npz")
    ap.add_argument("--real", default=None, help="the real-photo folder (default ../shared/real)")
    ap.add_argument("--write-manifest", action="store_true")
    args = ap.parse_args(argv)
    from common import record, markdown_table, write_table
    from dlm.landmarks import label_translation as lt
    from dlm.io.files import write_json
    from dlm.io.provenance import shared_real_path
    from dlm.landmarks import predictor as lmk
    from dlm.product import roi as roi_lib
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
    template = roi_lib.landmark_template(pred.landmark_set)

    mu, truth, yaws, _ = dense_on_gt_crops(pred, str(dev_dir))
    keep = yaws < 90.01                  # the protocol's bins end at 90 degrees
    mu, truth, yaws = mu[keep], truth[keep], yaws[keep]
    points = Points(template, roi_lib.mirror_permutation(pred.landmark_set), None, template[:68])
    best_setting, grid = choose_setting(points, mu, truth, yaws)
    best = next(g for g in grid if all(g[k] == v for k, v in best_setting.items()))
    plain = min((g for g in grid if not g["mirror"] and not g["degree"]), key=lambda g: g["cv"]["nme_balanced"])
    # Nested: the choice itself made without the outer tenth (two-fold within the other nine).
    outer = np.random.default_rng(SEED + 1).permutation(len(mu)) % FOLDS
    nested = np.zeros_like(truth)
    nested_choices = []
    for f in range(FOLDS):
        inner = outer != f
        choice, _ = choose_setting(points, mu[inner], truth[inner], yaws[inner], folds=2, quiet=True)
        nested_choices.append(choice)
        nested[~inner] = translate_table(fit_setting(choice, points, mu[inner], truth[inner]), points, mu[~inner])
    nb, coef = table = fit_setting(best_setting, points, mu, truth)
    cv_points = cross_validated(best_setting, points, mu, truth, FOLDS, SEED)

    def translated(table, m):
        return translate_table(table, points, m)

    res = dict(model=name, dev=str(dev_dir), num_photos=int(len(mu)), seed=SEED, **best_setting,
               dev_raw=protocol(mu[:, :68], truth, yaws), dev_cv=best["cv"], dev_nested_cv=protocol(nested, truth, yaws),
               nested_choices=nested_choices, plain=plain,
               dev_in_sample=protocol(translated(table, mu), truth, yaws), grid=grid,
               max_abs_coef=float(np.abs(coef).max()),
               regions_raw=regions(mu[:, :68], truth, yaws), regions_cv=regions(cv_points, truth, yaws))
    if check_dir.is_dir():
        cmu, ctruth, cyaws, _ = dense_on_gt_crops(pred, str(check_dir))
        ck = cyaws < 90.01
        res.update(check=str(check_dir), check_raw=protocol(cmu[ck, :68], ctruth[ck], cyaws[ck]),
                   check_translated=protocol(translated(table, cmu[ck]), ctruth[ck], cyaws[ck]),
                   check_plain=protocol(translated(fit_setting(plain, points, mu, truth), cmu[ck]), ctruth[ck], cyaws[ck]))
    config = dict(model=name, grid_k=list(GRID_K), grid_ridge=list(GRID_RIDGE), degrees=list(DEGREES),
                  mirror=list(MIRROR), folds=FOLDS, seed=SEED, crop="ground-truth box")
    rec = record(f"label_translation_{name}", config, res, started=t0)

    def row(label, r):
        b = r["yaw_bins"]
        return [label, r["num_images"], *(f"{100 * b[k]:.2f}%" if b[k] is not None else "-" for k in b),
                f"{100 * r['nme_balanced']:.2f}%" if r["nme_balanced"] is not None else "n/a (a bin is empty)",
                f"{100 * r['nme_mean']:.2f}%", f"{100 * r['nme_inner51']:.2f}%"]
    def described(g):
        return (f"K {g['k']}, ridge {g['ridge']:g}, " + (f"yaw degree {g['degree']}" if g["degree"] else "no yaw") +
                (", mirror-shared" if g["mirror"] else ""))
    rows = [row("dev, ICT's 68 untranslated", res["dev_raw"]),
            row(f"dev, translated, nested {FOLDS}-fold cross-validation (setting chosen without the photos scored)",
                res["dev_nested_cv"]),
            row(f"dev, translated, {FOLDS}-fold cross-validated, the chosen setting ({described(best)})", res["dev_cv"]),
            row(f"dev, {FOLDS}-fold cross-validated, the best setting without yaw or mirror ({described(plain)})",
                plain["cv"]),
            row("dev, translated by the table fitted on all of it (in-sample)", res["dev_in_sample"])]
    if "check_raw" in res:
        rows += [row("aflw2000_sample (never fitted on), untranslated", res["check_raw"]),
                 row("aflw2000_sample, translated", res["check_translated"]),
                 row("aflw2000_sample, translated without yaw or mirror", res["check_plain"])]
    table = markdown_table(["photos, 68 points", "images", "0-30", "30-60", "60-90", "balanced NME", "mean NME",
                            "inner 51"], rows)
    part_rows = [[part, *(f"{100 * v:.2f}%" for v in res["regions_raw"][part]["yaw_bins"]),
                  *(f"{100 * v:.2f}%" for v in res["regions_cv"][part]["yaw_bins"]),
                  f"{100 * res['regions_cv'][part]['share_of_balanced']:.2f} "
                  f"({res['regions_cv'][part]['share_of_balanced'] / res['dev_cv']['nme_balanced']:.0%})"]
                 for part in res["regions_cv"]]
    table += ("\n\nBy part of the face, dev photos (mean normalised error of the part's points; translated: "
              f"{FOLDS}-fold cross-validated, the chosen setting):\n\n" + markdown_table(
                  ["part", "untranslated 0-30", "untranslated 30-60", "untranslated 60-90", "translated 0-30",
                   "translated 30-60", "translated 60-90",
                   "translated: points of the balanced NME (share)"], part_rows))
    write_table(f"label_translation_{name}",
                f"Label translation of `{name}`'s dense landmarks to AFLW2000-3D's 68 points, fitted on the dev "
                f"photos' ground-truth crops (each point: its own position plus a ridge-fitted combination of its K "
                f"nearest dense landmarks, the coefficients optionally polynomials in the yaw read from the landmarks and "
                f"shared by mirror pairs; the setting by {FOLDS}-fold cross-validation)", rec, table)
    print(table)
    if args.write_manifest:
        mpath = (lmk.WEIGHTS_DIR / f"{name}.json") if shipped else Path(args.model).with_suffix(".json")
        manifest = json.loads(mpath.read_text())
        manifest.setdefault("label_translation", {})["aflw2000_68"] = dict(
            fitted_on=dev_dir.name, num_photos=res["num_photos"], **best_setting,
            dev_nme_balanced_raw=res["dev_raw"]["nme_balanced"], dev_nme_balanced_cv=res["dev_cv"]["nme_balanced"],
            dev_nme_balanced_nested_cv=res["dev_nested_cv"]["nme_balanced"],
            git_revision=rec["git_revision"], neighbours=nb.tolist(), coef=np.round(coef, 6).tolist())
        write_json(mpath, manifest)
        print(f"wrote label_translation.aflw2000_68 into {mpath}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
