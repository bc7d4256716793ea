"""The real-time tracker's identity refits: how good an identity each schedule gives, and what it costs.

Reproduce (2-core CPU, about 15 minutes; --quick about 4 minutes):
    python experiments/tracker_identity.py                 # 4 sequences x 240 frames, seed 8100
    python experiments/tracker_identity.py --quick         # 1 sequence x 64 frames

Data: synthetic videos of one person each (experiments/video_synth.py's `render_sequence`: the
head swings up to 40 degrees of yaw, nods and talks through `knots` random states; 320 x 320 px, one
look per sequence), tracked frame by frame by `dlm.Tracker` (its own ROI, the shipped real-time
network, the real-time fitter) with the identity refit inline (`async_refit=False`, so each
schedule sees the same frames and the result does not depend on thread timing).

Schedules (`RealtimeFitter`'s refit_every, refit_max_every, refit_iters): the first refit once the
8 keyframes are full, then every 30 frames or at doubling intervals up to a cap; each refit an
offline fit warm-started from the tracked poses and the current identity, its L-BFGS iterations
capped at refit_iters.  "none": refit_every 0, the identity the cold start's single-frame fit gave
(the reference that says what the refits are worth).

Metrics: shape error of the track's identity (NoW as in experiments/now_synth.py: 7-landmark
similarity, ICP, face-region point-to-surface distance, mm) against the person's true neutral,
sampled every 16 frames and at the end ("mean over the track" is what a viewer sees on average);
the refits' count, wall time on this CPU (one refit at a time, inline; the first, which compiles,
left out of the median) and how far each moved the identity (|delta identity|, in prior standard
deviations, from the second refit on).
"""
from __future__ import annotations

import time

import numpy as np

from common import markdown_table, record, start, write_table
from now_synth import Scorer
from video_synth import render_sequence

SAMPLE_EVERY = 16


def get_config(quick: bool = False) -> dict:
    schedules = {
        "every 30, 2000 iterations": (30, None, 2000),
        "every 30, 300 iterations": (30, None, 300),
        "every 30, 100 iterations": (30, None, 100),
        "doubling 30 to 240, 2000 iterations": (30, 240, 2000),
        "doubling 30 to 240, 300 iterations": (30, 240, 300),
        "doubling 30 to 240, 100 iterations (the default to session 63)": (30, 240, 100),
        "doubling 30 to 240, 24 iterations (the default)": (30, 240, 24),
        "none (the cold start's identity)": (0, None, 100),
    }
    if quick:
        schedules = {k: schedules[k] for k in ("every 30, 2000 iterations", "doubling 30 to 240, 24 iterations (the default)")}
    return dict(sequences=1 if quick else 4, frames=64 if quick else 240, knots=3 if quick else 8, seed=8100,
                image_size=320, model="realtime", schedules=schedules)


def track(frames, schedule, scorer, true_identity, model_name: str):
    """Track one sequence under one schedule: (errors sampled over the track (mm), refit rows)."""
    from dlm.product import pipeline
    every, max_every, iters = schedule
    size = frames.shape[1]
    tracker = pipeline.Tracker((size, size), model_name, async_refit=False, refit_every=every,
                               refit_max_every=max_every, refit_iters=iters)
    fitter = tracker.fitter
    refits = []
    inner = fitter._refit_result

    def timed(*a):
        t0 = time.perf_counter()
        out = inner(*a)
        refits.append(dict(frame=fitter.state.frame_index, seconds=time.perf_counter() - t0,
                           identity=np.asarray(out[0])))
        return out
    fitter._refit_result = timed
    errors, frames_tracked = [], 0
    for f, im in enumerate(frames):
        tf = tracker(im)
        frames_tracked += bool(tf.found)
        if (f + 1) % SAMPLE_EVERY == 0 or f == len(frames) - 1:
            ident = fitter.state.identity
            errors.append(float(np.mean(scorer(np.asarray(ident), true_identity))) if ident is not None else np.nan)
    tracker.close()
    return errors, refits, frames_tracked


def main(argv=None):
    def only(ap):
        ap.add_argument("--only", default=None, help="comma-separated words: run the schedules whose names hold "
                                                     "any of them (e.g. 'default,25 iter,none')")
    run = start(__doc__, get_config, "tracker_identity", argv, overrides=("sequences", "frames"), extra=only)
    config, t_start = run.config, time.time()
    if run.args.only:
        words = [w.strip() for w in run.args.only.split(",") if w.strip()]
        config["schedules"] = {k: v for k, v in config["schedules"].items() if any(w in k for w in words)}
        if not config["schedules"]:
            raise SystemExit(f"tracker_identity: no schedule matches --only {run.args.only!r}")
    from dlm.core import facemodel as fm
    from dlm.synth import render as synth
    model = fm.load_face_model()
    assets = synth.make_assets(model)
    scorer = Scorer(model)
    per = {name: dict(errors=[], final=[], seconds=[], delta=[], refits=[], tracked=[]) for name in config["schedules"]}
    for s in range(config["sequences"]):
        frames, scene = render_sequence(config, model, assets, s)
        truth = np.asarray(scene.params.identity[0])
        for name, schedule in config["schedules"].items():
            errors, refits, tracked = track(frames, tuple(schedule), scorer, truth, config["model"])
            row = per[name]
            row["errors"].append(errors)
            row["final"].append(errors[-1])
            row["seconds"] += [r["seconds"] for r in refits[1:]]   # the first refit compiles
            row["delta"] += [float(np.linalg.norm(b["identity"] - a["identity"])) for a, b in zip(refits[1:], refits[2:])]
            row["refits"].append(len(refits))
            row["tracked"].append(tracked)
            print(f"sequence {s}: {name}: final {errors[-1]:.2f} mm, mean {np.nanmean(errors):.2f} mm, "
                  f"{len(refits)} refits ({time.time() - t_start:.0f} s)", flush=True)
    results = {}
    for name, row in per.items():
        results[name] = dict(
            refit_every=config["schedules"][name][0], refit_max_every=config["schedules"][name][1],
            refit_iters=config["schedules"][name][2],
            mean_error_mm=float(np.nanmean(row["errors"])), final_error_mm=float(np.nanmean(row["final"])),
            error_by_frame_mm=np.nanmean(np.array(row["errors"]), 0).tolist(),
            refits_per_sequence=float(np.mean(row["refits"])),
            refit_median_s=float(np.median(row["seconds"])) if row["seconds"] else None,
            refit_total_s_per_sequence=float(np.sum(row["seconds"]) / config["sequences"]),
            identity_step_median=float(np.median(row["delta"])) if row["delta"] else None,
            frames_tracked=int(np.sum(row["tracked"])))
    rec = record(run.name, config, dict(schedules=results, sample_every=SAMPLE_EVERY,
                                        frames=config["frames"], sequences=config["sequences"]), started=t_start)
    rows = [[name, r["mean_error_mm"], r["final_error_mm"], r["refits_per_sequence"], r["refit_median_s"],
             r["refit_total_s_per_sequence"], r["identity_step_median"]] for name, r in results.items()]
    table = markdown_table(["schedule", "identity error, mean over the track (mm)", "at the end (mm)",
                            "refits / sequence", "refit median (s)", "refit time / sequence (s)",
                            "median identity step per refit (prior s.d.)"], rows)
    from dlm.io.provenance import cpu_name
    write_table(run.name, f"Tracker identity refits: {config['sequences']} synthetic sequences x {config['frames']} "
                          f"frames, {config['image_size']} px; refit times on {cpu_name()}, one refit at a time "
                          f"(inline), the first (which compiles) left out", rec, table)
    print(table)


if __name__ == "__main__":
    main()
