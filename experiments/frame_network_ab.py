"""The tracked frame's fused program (landmark CNN, then the real-time solve, one compiled call) with
other landmark networks in it, timed against the shipped one in one process (issue 20).

    python experiments/frame_network_ab.py ~/.cache/dlm/runs/probe57_l640/weights.npz --core 1 \\
        --json experiments/results/frame_network_ab.json

The network's cost inside the frame is not its cost alone: run back to back with the solve, its weights
and the solve's data take turns in the caches (session 57: the shipped network 1.42 ms alone, the solve
0.76 ms alone, the fused program 2.54 ms).  This times what the tracker runs: the Hamilton clip is
tracked by the shipped network until the fitter is warm, then each candidate's fused program
(`realtime._landmarks_then_solve` with `pipeline._landmarks_in_image` of that network, the tracker's
solver settings) runs on the same crop and fitter state, in interleaved rounds (the order reversed
every other round) of `--calls` calls each, one pinned core, one XLA thread.  Outputs differ (the
networks differ); only the time is compared.  Writes the median per call of each and its ratio to the
shipped network's, with the CPU named.

`--tracker` times what a tracked frame costs as `dlm.Tracker` runs it by default instead (since session 63 the
network in ONNX Runtime, then the fit as its own call): one Tracker per network (identity refits off) tracks the
whole clip in alternating passes (the order reversed every round, a compile pass first), and each is timed over
the frames both tracked without a search in the same round (the Tracker call: crop, network, fit, next ROI).  A
weights file without the shipped network's face-finding calibration (a pruned start) borrows it, so that both
drop and find the face alike.

    python experiments/frame_network_ab.py ~/.cache/dlm/prune/realtime_l640.npz --tracker --rounds 8 --core 1 \\
        --json experiments/results/frame_network_ab_tracker_s67.json
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("weights", nargs="+", help="landmark weights files (.npz) of the tracker's landmark set")
    ap.add_argument("--video", default=None, help="default: ../shared/real/video/short_hamilton_clip.mp4")
    ap.add_argument("--core", type=int, default=None, help="the core to pin to (default: the last allowed)")
    ap.add_argument("--rounds", type=int, default=16)
    ap.add_argument("--calls", type=int, default=50, help="calls per network per round")
    ap.add_argument("--tracker", action="store_true",
                    help="whole Tracker passes over the clip per network (ONNX Runtime's network, then the fit), "
                         "timed over the frames both tracked; --calls is then unused")
    ap.add_argument("--json", help="write the figures here (default experiments/results/frame_network_ab.json)")
    args = ap.parse_args(argv)
    video = Path(args.video) if args.video else Path(__file__).resolve().parents[2] / "shared/real/video/short_hamilton_clip.mp4"
    for w in args.weights:
        if not os.path.isfile(os.path.expanduser(w)):
            print(f"frame_network_ab: {w}: no such weights file", file=sys.stderr)
            return 2
    import common
    core = common.one_core(args.core)     # before JAX starts
    started = time.time()
    import functools
    import jax
    import numpy as np
    from dlm.fitting import realtime as rt
    from dlm.io import images as imageio
    from dlm.io.provenance import cpu_name
    from dlm.landmarks import predictor as lmk
    from dlm.product import pipeline, roi as roi_lib

    base = lmk.shipped("realtime")
    preds = {"shipped": base}
    for w in args.weights:
        try:
            p = lmk.Predictor.load(os.path.expanduser(w))
        except lmk.WeightsError as e:
            print(f"frame_network_ab: {e}", file=sys.stderr)
            return 2
        if p.landmark_set != base.landmark_set:
            print(f"frame_network_ab: {w}: landmark set {p.landmark_set}, the tracker's is {base.landmark_set}",
                  file=sys.stderr)
            return 2
        preds[w] = p
    # After the weights: a file the tracker cannot run is refused whether or not the clip is here.
    if not video.is_file():
        print(f"frame_network_ab: {video}: no such video", file=sys.stderr)
        return 2
    if args.tracker:
        results = tracker_rounds(preds, list(imageio.VideoReader(str(video))), args.rounds)
        results.update(cpu=cpu_name(), core=core)
        common.record("frame_network_ab", dict(weights=args.weights, video=str(video), rounds=args.rounds, core=core,
                                               tracker=True), results, out=args.json, started=started)
        return 0
    reader = imageio.VideoReader(str(video))
    first = None
    tracker = None
    for k, frame in enumerate(reader):
        if tracker is None:
            tracker = pipeline.Tracker((frame.shape[1], frame.shape[0]), base, refit_every=0)
        tracker(frame)
        if tracker.roi is not None and tracker.fitter.state.x is not None and tracker.fitter._fused_from:
            first = frame
            break
    if first is None:
        print(f"frame_network_ab: {video}: the tracker found no face to track", file=sys.stderr)
        return 2
    fit, st = tracker.fitter, tracker.fitter.state
    weight = fit._ones(len(fit.model.landmarks[fit.landmark_set]))

    def fused_call(pred):
        # The same face at the network's own input size (a smaller input is a cheaper crop and network).
        size = pred.size
        crop = roi_lib.crop(first, tracker.roi, size)
        crop_to_image = np.linalg.inv(np.vstack([tracker.roi.transform(size), [0.0, 0.0, 1.0]]))[:2].astype(np.float32)
        landmark_fn = functools.partial(pipeline._landmarks_in_image, pred.apply_fn, pred.size)
        fn = jax.jit(functools.partial(rt._landmarks_then_solve, landmark_fn=landmark_fn, st=fit.structure,
                                       num_iters=fit.num_iters, hessian=fit.hessian))
        return lambda: jax.block_until_ready(fn((crop, crop_to_image), st.x, st.prev_2d, weight, st.consts))

    calls = {name: fused_call(p) for name, p in preds.items()}
    for call in calls.values():
        for _ in range(20):
            call()
    rounds = {name: [] for name in calls}
    names = list(calls)
    for r in range(args.rounds):
        for name in (names if r % 2 == 0 else names[::-1]):
            ts = []
            for _ in range(args.calls):
                t0 = time.perf_counter()
                calls[name]()
                ts.append(time.perf_counter() - t0)
            rounds[name].append(float(np.median(ts)) * 1e3)
    shipped_ms = float(np.median(rounds["shipped"]))
    results = {"cpu": cpu_name(), "core": core, "networks": {}}
    for name, p in preds.items():
        med = float(np.median(rounds[name]))
        results["networks"][name] = dict(network=p.network, size=p.size, median_ms=med, ratio_to_shipped=med / shipped_ms,
                                         round_medians_ms=rounds[name])
        print(f"{name}: {p.network} at {p.size} px, {med:.3f} ms per fused call ({med / shipped_ms:.3f}x the shipped network)")
    common.record("frame_network_ab", dict(weights=args.weights, video=str(video), rounds=args.rounds,
                                           calls=args.calls, core=core),
                  results, out=args.json, started=started)
    return 0


CALIBRATION = ("roi_threshold", "quality", "roi_calibration")


def tracker_rounds(preds: dict, frames: list, rounds: int) -> dict:
    """Each predictor's Tracker over the whole clip in alternating passes (a compile pass first): per network
    the median and p90 of the Tracker call and the medians of its stages over the frames every network
    tracked without a search in that round, and the per-round medians."""
    import numpy as np
    from dlm.product import pipeline
    base = preds["shipped"]
    borrowed = []
    for name, p in preds.items():
        if any(k not in p.manifest for k in CALIBRATION):
            p.manifest.update({k: base.manifest[k] for k in CALIBRATION if k in base.manifest})
            borrowed.append(name)
    size = (frames[0].shape[1], frames[0].shape[0])
    trackers = {name: pipeline.Tracker(size, p, refit_every=0) for name, p in preds.items()}
    names = list(trackers)
    passes = {name: [] for name in names}
    for r in range(rounds + 1):
        for name in (names if r % 2 == 0 else names[::-1]):
            t = trackers[name]
            t.reset()
            rows = {}
            for frame in frames:
                t0 = time.perf_counter()
                out = t(frame)
                ms = (time.perf_counter() - t0) * 1e3
                if out.found and not out.searched:
                    tm = out.timings_ms
                    rows[out.index] = (ms, tm.get("cnn", np.nan), tm.get("fit", np.nan), tm.get("roi", np.nan))
            t.wait_for_search()
            if r:
                passes[name].append(rows)
    results = {"calibration_borrowed_from_shipped": borrowed, "networks": {},
               # which files were timed, for experiments/ship_weights.py --faster
               "sha256": {n: p.manifest.get("sha256") for n, p in preds.items()}}
    for i in range(rounds):
        common_frames = set.intersection(*(set(passes[n][i]) for n in names))
        for n in names:
            passes[n][i] = np.array([passes[n][i][k] for k in sorted(common_frames)]).reshape(-1, 4)
    shipped_ms = float(np.median(np.concatenate(passes["shipped"])[:, 0]))
    for n in names:
        a = np.concatenate(passes[n])
        med = float(np.median(a[:, 0]))
        results["networks"][n] = dict(
            network=preds[n].network, runtime=preds[n].runtime, frames=int(len(a)), median_ms=med,
            p90_ms=float(np.percentile(a[:, 0], 90)), ratio_to_shipped=med / shipped_ms,
            stage_medians_ms=dict(zip(("cnn", "fit", "roi"), (float(x) for x in np.nanmedian(a[:, 1:], axis=0)))),
            round_medians_ms=[float(np.median(p[:, 0])) for p in passes[n]])
        print(f"{n}: {preds[n].network}, {med:.3f} ms per tracked frame ({med / shipped_ms:.3f}x the shipped "
              f"network), p90 {results['networks'][n]['p90_ms']:.3f} ms, over {len(a)} frames")
    return results


if __name__ == "__main__":
    sys.exit(main())
