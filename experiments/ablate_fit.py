"""Fitting ablations on the synthetic NoW-like benchmark: each energy term switched off in turn,
and predicted sigma against a fixed sigma (the paper's Sections 3.2 and 4, single images).

Reproduce (2-core CPU; about 20 minutes for the default 20 subjects x 1 image, --quick ~3):
    python experiments/ablate_fit.py                     # image 0 of the first 20 subjects of now_synth's data
    python experiments/ablate_fit.py --quick             # 2 subjects x 2 images of now_synth --quick's data

The landmarks are the cached detections of experiments/now_synth.py (same config: the CNN runs
once); every variant refits the same images with dlm.product.pipeline.fit_faces (single view, monocular)
and is scored with the NoW protocol against the subject's neutral mesh.
Variants: full energy; identity prior off; expression prior off; joint prior off;
self-intersection off; expression bounds off; fixed sigma (each image's median predicted sigma for
every landmark: same total weight, no per-landmark weighting).

    python experiments/ablate_fit.py --iterations        # the full stage's iteration cap instead

--iterations fits as `dlm reconstruct` does (the shipped offline network's 703 landmarks, detected on
the first 20 subjects' first image: its own cached detections) with the full stage capped at 250,
500, 1000 and 2000 (the default) L-BFGS iterations: what the iterations a photo's fit spends most
of its time on buy in 3D error.  Results: experiments/results/ablate_fit_iterations.{json,md}.
"""
from __future__ import annotations

import argparse
import dataclasses
import time


import now_synth as ns
from common import RESULTS, markdown_table, record, write_table


def variants():
    from dlm.fitting import energy as en, offline
    base = offline.FitConfig(landmark_set="320")
    w = en.EnergyWeights()
    return {
        "full": (base, "predicted"),
        "no identity prior": (dataclasses.replace(base, weights=w._replace(identity=0.0)), "predicted"),
        "no expression prior": (dataclasses.replace(base, weights=w._replace(expression=0.0)), "predicted"),
        "no joint prior": (dataclasses.replace(base, weights=w._replace(joints=0.0)), "predicted"),
        "no self-intersection": (dataclasses.replace(base, use_intersect=False), "predicted"),
        "no expression bounds": (dataclasses.replace(base, weights=w._replace(expression_bounds=0.0)), "predicted"),
        "fixed sigma": (base, "fixed"),
    }


ITERATION_CAPS = (250, 500, 1000, 2000)


def iteration_variants():
    from dlm.fitting import offline
    return {f"full stage <= {k} iterations": (offline.FitConfig(landmark_set="703", full_iters=k), "predicted")
            for k in ITERATION_CAPS}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--subjects", type=int, default=None, help="first N subjects (default 20; quick: 2)")
    ap.add_argument("--images", type=int, default=None, help="first K images of each subject (default 1; quick: 2)")
    ap.add_argument("--iterations", action="store_true",
                    help="vary the full stage's iteration cap (offline network, 703 landmarks) instead of the terms")
    args = ap.parse_args(argv)
    started = time.time()
    config = ns.get_config(args.quick)
    n = args.subjects or (2 if args.quick else 20)
    args.images = args.images or (2 if args.quick else 1)
    if args.iterations:   # detect only what is fitted, with the network dlm reconstruct uses
        config = dict(config, model="offline", subjects=n, images=args.images)
    data = ns.detect_dataset(config)
    from dlm.core import facemodel as fm
    model = fm.load_face_model()
    scorer = ns.Scorer(model)
    sub = dict(data)
    sub["found"] = data["found"].copy()
    sub["found"][:, args.images:] = False
    results = {}
    chosen = iteration_variants() if args.iterations else variants()
    if args.iterations:   # compile (or load) the fit first, so that no variant's time holds it
        cfg, sigma = next(iter(chosen.values()))
        ns.fit_identities(sub, config, fit_config=cfg, sigma=sigma, subjects=range(1), model=model)
    for name, (cfg, sigma) in chosen.items():
        t0 = time.perf_counter()
        ids = ns.fit_identities(sub, config, fit_config=cfg, sigma=sigma, subjects=range(n), model=model,
                                progress=name)
        fit_s = (time.perf_counter() - t0) / max(len(ids), 1)
        results[name] = dict(ns.score(ids, data, scorer), seconds_per_fit=round(fit_s, 3))
        print(f"{name}: median {results[name]['median_mm']:.3f} mm, mean {results[name]['mean_mm']:.3f} mm, "
              f"{fit_s:.2f} s a fit", flush=True)
    name = ("ablate_fit_iterations" if args.iterations else "ablate_fit") + ("_quick" if args.quick else "")
    cfg = dict(now_synth=config, subjects_used=n, images_used=args.images)
    rec = record(name, cfg, results, RESULTS / f"{name}.json", started)
    table = markdown_table(["variant", "median (mm)", "mean (mm)", "std (mm)", "scans", "s a fit"],
                           [[k, v["median_mm"], v["mean_mm"], v["std_mm"], v["scans"], v["seconds_per_fit"]]
                            for k, v in results.items()])
    what = "the full stage's iteration cap" if args.iterations else "Fitting ablations"
    write_table(name, f"{what}, NoW-like synthetic data, single images: {n} subjects x {args.images} "
                f"images, seed {config['seed']}, network {config['model']} (s a fit: the wall time of each image's "
                f"fit)", rec, table)
    print(table)


if __name__ == "__main__":
    main()
