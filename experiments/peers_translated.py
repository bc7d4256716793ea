"""dlm and MediaPipe Face Mesh on the same real photos, each with and without a label translation.

    python experiments/peers_translated.py        # ~5 min on a 2-core CPU once MediaPipe's venv exists
    python experiments/peers_translated.py --model offline --name peers_translated_offline   # the photo network

Why: dlm's 68 points (ICT's) and MediaPipe's (the 468-point mesh mapped to the 68 by fixed
vertices, `peers.py`) are both other definitions than AFLW2000-3D's.  `dlm eval aflw2000` now
reports dlm through a label translation fitted on the dev photos; a comparison is fair only if the
peer gets the same treatment.  Here both methods find the faces themselves (dlm: `pipeline.detect`,
the product's face finding; MediaPipe: its own detector, static images) on the 200 dev photos
(`../shared/real/aflw2000_dev`) and the 16 sample photos (`aflw2000_sample`, never fitted on), and
each method's translation is the same model, chosen the same way (`label_translation.py`'s grid and
ten-fold cross-validation, per method: each of the 68 is its own point plus a ridge combination of
its K nearest dense points, the coefficients polynomials in the yaw read from its 68 against ICT's
68 on the template, shared by mirror pairs; dlm's neighbours on the face model's template,
MediaPipe's on its mean 2D shape over the dev photos it found, its mirror permutation the nearest
mirrored point of its mean near-frontal shape), fitted on the photos the method found.  The
session-62 model (K 32, ridge 0.01, two-fold, no yaw or mirror) is reported beside it.

Figures per method: dev balanced NME untranslated, dev translated ten-fold cross-validated (each
photo by coefficients fitted on the other nine tenths; same seeded folds), and the sample photos
translated by coefficients fitted on all of dev.  Photos a method does not find are left out of
its NME (its count says how many); one column scores each on the photos both found.  MediaPipe's base mapping (which of its 468 points stands for each
of the 68) is peers.py's: the lowest mean error over its synthetic calibration renders.
Writes experiments/results/peers_translated.{json,md}.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
K, RIDGE, SEED = 32, 0.01, 38


def dlm_dense(paths, model: str):
    """(points (N, L, 2) with NaN where not found, found (N,), the network's landmark set): the
    product's own face finding and its six averaged passes (`pipeline.detect`)."""
    import cv2
    from dlm.landmarks import predictor as lmk
    from dlm.product import pipeline
    pred = lmk.shipped(model)
    out, found = None, np.zeros(len(paths), bool)
    for i, p in enumerate(paths):
        img = np.ascontiguousarray(cv2.imread(p, cv2.IMREAD_COLOR)[..., ::-1])
        try:
            mu = np.asarray(pipeline.detect(img, pred)[0].mu, np.float64)
        except pipeline.NoFaceError:
            continue
        if out is None:
            out = np.full((len(paths),) + mu.shape, np.nan)
        out[i], found[i] = mu, True
    return out, found, pred.landmark_set


def mean_shape_2d(points: np.ndarray) -> np.ndarray:
    """(L, 2) mean of the photos' point sets, each moved and scaled to zero mean and unit size
    (a peer's template for choosing neighbours)."""
    c = points - points.mean(1, keepdims=True)
    c /= np.sqrt((c ** 2).sum((1, 2)))[:, None, None]
    return c.mean(0)


def mirror_from_shape(shape: np.ndarray) -> tuple[np.ndarray, float]:
    """(mirror permutation (L,), the share of points whose match is mutual) of a near-symmetric 2D
    shape (L, 2) (y down, face upright): each point's nearest point once x is reflected about the
    shape's mean x."""
    reflected = shape * np.array([-1.0, 1.0]) + np.array([2 * shape[:, 0].mean(), 0.0])
    d = np.linalg.norm(reflected[:, None] - shape[None], axis=2)
    perm = np.argmin(d, axis=1)
    return perm, float(np.mean(perm[perm] == np.arange(len(perm))))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="realtime")
    ap.add_argument("--real", default=None, help="the real-photo folder (default ../shared/real)")
    ap.add_argument("--name", default="peers_translated",
                    help="the results' file name under experiments/results (default peers_translated)")
    args = ap.parse_args(argv)
    import peers
    from common import markdown_table, record, write_table
    from label_translation import (FOLDS, Points, choose_setting, cross_validated, fit_setting, norms,
                                   protocol as scores, translate_table)
    from dlm.product import roi as roi_lib
    from dlm.eval import aflw2000
    from dlm.landmarks import label_translation as lt
    from dlm.io.provenance import shared_real_path
    t0 = time.time()
    real = Path(args.real) if args.real else Path(shared_real_path("."))
    sets = {}
    for name in ("aflw2000_dev", "aflw2000_sample"):
        if not (real / name).is_dir():
            print(f"peers_translated: {real / name}: no such folder", file=sys.stderr)
            return 2
        items = [it for it in aflw2000.read_aflw2000(str(real / name)) if abs(it[3]) < 90.01]
        sets[name] = dict(paths=[it[1] for it in items], truth=np.asarray([it[2] for it in items]),
                          yaws=np.abs([it[3] for it in items]))
    paths = sets["aflw2000_dev"]["paths"] + sets["aflw2000_sample"]["paths"]
    n_dev = len(sets["aflw2000_dev"]["paths"])

    cfg = peers.get_config(False)
    calib = peers.synthetic_set(cfg["calibration"], cfg["calibration_seed"], cfg)
    mp_calib = peers.run_peer("mediapipe", calib["paths"])
    mapping = peers.mediapipe_mapping(mp_calib, calib["gt"])
    mp = peers.run_peer("mediapipe", paths)
    dl_points, dl_found, dl_set = dlm_dense(paths, args.model)
    methods = {
        "dlm": dict(points=dl_points, found=dl_found, base=np.arange(68),
                    template=roi_lib.landmark_template(dl_set),
                    mirror=roi_lib.mirror_permutation(dl_set)),
        "mediapipe": dict(points=mp["points"].astype(np.float64), found=mp["found"].astype(bool), base=mapping),
    }
    ict68 = roi_lib.landmark_template("68")
    truth = np.concatenate([sets["aflw2000_dev"]["truth"], sets["aflw2000_sample"]["truth"]])
    yaws = np.concatenate([sets["aflw2000_dev"]["yaws"], sets["aflw2000_sample"]["yaws"]])
    sizes = norms(truth)
    is_dev = np.arange(len(paths)) < n_dev
    fold = np.random.default_rng(SEED).permutation(n_dev) % 2
    fold = np.concatenate([fold, np.full(len(paths) - n_dev, -1)])
    frontal = yaws < 15.0
    results, rows = {}, []
    for name, m in methods.items():
        pts, found, base = m["points"], m["found"], m["base"]
        dev, smp = found & is_dev, found & ~is_dev
        template, mirror, mutual = m.get("template"), m.get("mirror"), None
        if template is None:
            template = mean_shape_2d(pts[dev])
            mirror, mutual = mirror_from_shape(mean_shape_2d(pts[dev & frontal]))
        nb = lt.neighbours(template, K, base=base)
        cv = np.full((len(paths), 68, 2), np.nan)
        for f in (0, 1):
            tr, te = dev & (fold != f), dev & (fold == f)
            coef = lt.fit(pts[tr], truth[tr], sizes[tr], nb, RIDGE, base)
            cv[te] = lt.apply(pts[te], nb, coef, base)
        coef = lt.fit(pts[dev], truth[dev], sizes[dev], nb, RIDGE, base)
        # The model dlm's own evaluation uses (yaw terms, mirror sharing), chosen per method by
        # ten-fold cross-validation on the photos it found.
        points = Points(template, mirror, base, ict68)
        setting, _ = choose_setting(points, pts[dev], truth[dev], yaws[dev], quiet=True)
        cv_yaw = np.full((len(paths), 68, 2), np.nan)
        cv_yaw[dev] = cross_validated(setting, points, pts[dev], truth[dev], FOLDS, SEED)
        table = fit_setting(setting, points, pts[dev], truth[dev])
        both = is_dev & methods["dlm"]["found"] & methods["mediapipe"]["found"]
        r = dict(found_dev=int(dev.sum()), found_sample=int(smp.sum()), found_dev_by_both=int(both.sum()),
                 setting=setting, mirror_mutual_share=mutual,
                 dev_translated_cv_both_found=scores(cv_yaw[both], truth[both], yaws[both]),
                 dev_raw=scores(pts[dev][:, base], truth[dev], yaws[dev]),
                 dev_translated_cv=scores(cv_yaw[dev], truth[dev], yaws[dev]),
                 sample_raw=scores(pts[smp][:, base], truth[smp], yaws[smp]),
                 sample_translated=scores(translate_table(table, points, pts[smp]), truth[smp], yaws[smp]),
                 plain_dev_translated_cv=scores(cv[dev], truth[dev], yaws[dev]),
                 plain_dev_translated_cv_both_found=scores(cv[both], truth[both], yaws[both]),
                 plain_sample_translated=scores(lt.apply(pts[smp], nb, coef, base), truth[smp], yaws[smp]))
        results[name] = r
        pct = lambda v: f"{100 * v:.2f}%" if v is not None else "n/a"  # noqa: E731
        rows.append([name, f"{r['found_dev']}/{n_dev}", pct(r["dev_raw"]["nme_balanced"]),
                     pct(r["dev_translated_cv"]["nme_balanced"]),
                     " / ".join(pct(v) for v in r["dev_translated_cv"]["yaw_bins"].values()),
                     pct(r["dev_translated_cv_both_found"]["nme_balanced"]),
                     f"{r['found_sample']}/{len(paths) - n_dev}", pct(r["sample_raw"]["nme_mean"]),
                     pct(r["sample_translated"]["nme_mean"]),
                     f"{pct(r['plain_dev_translated_cv']['nme_balanced'])} / "
                     f"{pct(r['plain_dev_translated_cv_both_found']['nme_balanced'])} / "
                     f"{pct(r['plain_sample_translated']['nme_mean'])}",
                     f"K {setting['k']}, ridge {setting['ridge']:g}, yaw degree {setting['degree']}"
                     + (", mirror-shared" if setting["mirror"] else "")
                     + (f" (mirror matches mutual: {100 * mutual:.0f}%)" if mutual is not None else "")])
        print(name, rows[-1], flush=True)
    config = dict(model=args.model, k=K, ridge=RIDGE, seed=SEED, folds=FOLDS, mediapipe=peers.PEERS["mediapipe"],
                  calibration=cfg["calibration"], calibration_seed=cfg["calibration_seed"])
    rec = record(args.name, config, results, started=t0)
    table = markdown_table(["method (finds faces itself)", "dev found", "dev balanced, untranslated",
                            f"dev balanced, translated ({FOLDS}-fold CV)", "translated by yaw 0-30 / 30-60 / 60-90",
                            "translated, photos both methods found",
                            "sample found", "sample mean NME, untranslated", "sample mean NME, translated",
                            f"session-62 model (K {K}, ridge {RIDGE}, two-fold): dev / both found / sample",
                            "setting chosen"], rows)
    write_table(args.name, f"dlm ({args.model} network) and MediaPipe Face Mesh on the AFLW2000-3D dev and sample photos, each "
                "finding faces itself, each with the same label translation model (yaw terms, mirror sharing; "
                f"setting chosen per method by {FOLDS}-fold cross-validation) fitted on the dev photos", rec, table)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
