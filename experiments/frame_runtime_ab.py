"""The tracker with its predictor's network run by XLA against ONNX Runtime (the default), interleaved in
one process on one pinned core (issue 20).

    python experiments/frame_runtime_ab.py --core 1 --json experiments/results/frame_runtime_ab.json

`dlm bench realtime --runtime ...` runs one tracker per process, and on this project's VMs runs of the
same revision minutes apart differ by more than the network's share of the frame.  Here two
`dlm.Tracker`s (the shipped real-time network; identity refits off, so nothing runs between frames) track
the same decoded clip in alternating passes (`--unfused`: tracked frames call the network, then the fit;
by default they run XLA's fused frame program either way, and the runtime serves the searches' calls;
`--defaults`: each as `dlm.Tracker` makes it, fused for XLA, two calls for ONNX Runtime; `--feed`: ONNX Runtime
both, its uint8-input graph, the default since session 66, against the float-input graph fed by numpy's
scaling) (the order reversed every round), each pass from a reset
tracker, after an untimed compile pass each.  A frame's time is the Tracker call (crop, network, fit,
next ROI), as `dlm bench realtime` times it; tracked frames are those found without a full search.
Writes each runtime's median and p90 over all its tracked frames, the per-round medians, their ratio,
the every-frame mean (searches included), and the medians of the tracked frames' stages (`roi`: crop and
next ROI; `cnn_and_fit` where fused, else `cnn` and `fit`).  Needs onnx and onnxruntime (dlm's dependencies).
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
    ap.add_argument("--video", help="default: ../shared/real/video/short_hamilton_clip.mp4")
    ap.add_argument("--core", type=int, default=None, help="the core to pin to (default: the last allowed)")
    ap.add_argument("--rounds", type=int, default=6, help="passes over the clip per runtime, interleaved")
    ap.add_argument("--max-frames", type=int, default=None)
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--unfused", action="store_true",
                      help="tracked frames run the network, then the fit, as two calls (the runtime's own network)")
    mode.add_argument("--defaults", action="store_true",
                      help="each tracker as dlm.Tracker makes it by default: XLA's fused frame program against "
                           "ONNX Runtime's network, then the fit")
    mode.add_argument("--feed", action="store_true",
                      help="ONNX Runtime either way: the network's uint8-input graph (dlm's default: the crop fed as "
                           "it is) against its float-input graph (the crop scaled to float32 by numpy first)")
    ap.add_argument("--json", help="default experiments/results/frame_runtime_ab.json")
    args = ap.parse_args(argv)
    if args.rounds < 1:
        print("frame_runtime_ab: --rounds must be at least 1", file=sys.stderr)
        return 2
    import common
    core = common.one_core(args.core)     # before JAX starts
    started = time.time()
    import cv2
    import numpy as np
    from dlm.eval import bench
    from dlm.io import images as imageio
    from dlm.io.provenance import cpu_name
    from dlm.landmarks import onnx_runtime
    from dlm.landmarks import predictor as lmk
    from dlm.product import pipeline

    if not onnx_runtime.available():
        print("frame_runtime_ab: needs the onnx and onnxruntime packages (pip install onnx onnxruntime)", file=sys.stderr)
        return 2
    video = args.video or bench.default_video()
    if video is None or not os.path.isfile(video):
        print(f"frame_runtime_ab: {video or 'short_hamilton_clip.mp4'}: no such video", file=sys.stderr)
        return 2
    cv2.setNumThreads(1)
    reader = imageio.VideoReader(video, max_frames=args.max_frames)
    frames = list(reader)
    size = (reader.width, reader.height)
    fuse = None if args.defaults else not args.unfused     # None: the Tracker's default for its runtime
    if args.feed:
        float_feed = lmk.Predictor.load("realtime", runtime="onnxruntime")
        float_feed._onnx.uint8_session = None          # uint8 crops scaled by numpy, then the float graph
        trackers = {"float_feed": pipeline.Tracker(size, float_feed, refit_every=0),
                    "uint8_feed": pipeline.Tracker(size, lmk.Predictor.load("realtime", runtime="onnxruntime"),
                                                   refit_every=0)}
    else:
        # XLA named explicitly: ONNX Runtime is the predictors' default wherever it is installed.
        trackers = {"xla": pipeline.Tracker(size, lmk.Predictor.load("realtime", runtime="xla"), refit_every=0,
                                            fuse=fuse),
                    "onnxruntime": pipeline.Tracker(size, lmk.Predictor.load("realtime", runtime="onnxruntime"),
                                                    refit_every=0, fuse=fuse)}

    def one_pass(tracker):
        tracker.reset()
        tracked, every, stages = [], [], []
        for f in frames:
            t0 = time.perf_counter()
            r = tracker(f)
            ms = (time.perf_counter() - t0) * 1e3
            every.append(ms)
            if r.found and not r.searched:
                tracked.append(ms)
                stages.append(r.timings_ms)     # roi, and cnn and fit or (fused) cnn_and_fit
        tracker.wait_for_search()
        return tracked, every, stages

    for t in trackers.values():      # compile every program, untimed
        one_pass(t)
    rows = {k: dict(tracked=[], every=[], round_medians=[], stages=[]) for k in trackers}
    names = list(trackers)
    for r in range(args.rounds):
        for name in (names if r % 2 == 0 else names[::-1]):
            tracked, every, stages = one_pass(trackers[name])
            rows[name]["tracked"] += tracked
            rows[name]["every"] += every
            rows[name]["stages"] += stages
            rows[name]["round_medians"].append(float(np.median(tracked)))
    for t in trackers.values():
        t.close()
    results = {"cpu": cpu_name(), "core": core, "video": os.path.basename(video), "frames": len(frames),
               "fused": {k: t.fuse for k, t in trackers.items()}, "runtimes": {}}
    for name, r in rows.items():
        v = np.asarray(r["tracked"])
        results["runtimes"][name] = dict(median_ms=float(np.median(v)), p90_ms=float(np.percentile(v, 90)),
                                         tracked_frames=len(v), every_frame_mean_ms=float(np.mean(r["every"])),
                                         round_medians_ms=r["round_medians"],
                                         stages_median_ms={k: float(np.median([t[k] for t in r["stages"] if k in t]))
                                                           for k in sorted({k for t in r["stages"] for k in t})})
    first, second = names
    x, o = results["runtimes"][first], results["runtimes"][second]
    ratio = f"{second}_over_{first}"
    results[ratio] = dict(median=o["median_ms"] / x["median_ms"], p90=o["p90_ms"] / x["p90_ms"],
                                           every_frame_mean=o["every_frame_mean_ms"] / x["every_frame_mean_ms"],
                                           round_medians=[b / a for a, b in zip(x["round_medians_ms"],
                                                                                o["round_medians_ms"])])
    for name, v in results["runtimes"].items():
        print(f"{name}: tracked frame median {v['median_ms']:.2f} ms, p90 {v['p90_ms']:.2f} ms "
              f"({v['tracked_frames']} frames), every frame mean {v['every_frame_mean_ms']:.2f} ms; rounds "
              + ", ".join(f"{m:.2f}" for m in v["round_medians_ms"]) + "; stages "
              + ", ".join(f"{k} {m:.2f}" for k, m in v["stages_median_ms"].items()))
    q = results[ratio]
    print(f"{second} / {first}: median {q['median']:.3f}x, p90 {q['p90']:.3f}x, every frame {q['every_frame_mean']:.3f}x")
    common.record("frame_runtime_ab", dict(video=os.path.basename(video), rounds=args.rounds, core=core,
                                           max_frames=args.max_frames, unfused=args.unfused,
                                           defaults=args.defaults, feed=args.feed), results, out=args.json, started=started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
