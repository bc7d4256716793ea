"""The tracker with session 61's crop (halve the image while the warp would shrink more than 4x)
against the crop before it (an area resampling to twice the crop's resolution whenever the warp shrank
by more than 2x), interleaved in one process on one pinned core (issue 20).

    python experiments/crop_ab.py --core 1 --json experiments/results/crop_ab.json

One `dlm.Tracker` (the shipped real-time network, identity refits off) tracks each clip in passes that
alternate the crop function (`dlm.product.roi.warp_crop`, swapped in the module the tracker calls), the
order reversed every round, each pass from a reset tracker after an untimed one.  Records per clip and
crop: the tracked frames' median and p90 (the Tracker call: crop, network, fit, next ROI), the crop
stage's median (`timings_ms["roi"]`), the frames that ran a full face search (their median), and the
tracked ROI's median side in pixels: the change only
touches faces whose crop is over twice the network's input (256 px for the real-time network's 128).
Default clips: every video in ../shared/real/video.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

VIDEOS = Path(__file__).resolve().parents[2] / "shared" / "real" / "video"


def area_crop(image, transform, size: int):
    """The crop as dlm made it before session 61 (the baseline): the image under the crop, area-resampled
    (cv2.INTER_AREA at a non-integer factor) to twice the crop's resolution when the warp would shrink it
    by more than 2x, then warpAffine's bilinear sampling."""
    import cv2
    import numpy as np
    from dlm.product.roi import under_crop
    image, a = under_crop(image, transform, size)     # the same part of the image as the new crop
    if np.sqrt(abs(np.linalg.det(a[:, :2]))) < 0.5:
        f = 2.0 * np.sqrt(abs(np.linalg.det(a[:, :2])))
        small = cv2.resize(image, (max(1, int(round(image.shape[1] * f))), max(1, int(round(image.shape[0] * f)))),
                           interpolation=cv2.INTER_AREA)
        fx, fy = small.shape[1] / image.shape[1], small.shape[0] / image.shape[0]
        back = np.array([[1 / fx, 0, 0.5 / fx - 0.5], [0, 1 / fy, 0.5 / fy - 0.5]])
        a = a @ np.vstack([back, [0, 0, 1]])
        image = small
    return cv2.warpAffine(image, a, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("videos", nargs="*", help="clips (default: every .mp4 in ../shared/real/video)")
    ap.add_argument("--core", type=int, default=None, help="the core to pin to (default: the last allowed)")
    ap.add_argument("--rounds", type=int, default=6, help="passes over each clip per crop, interleaved")
    ap.add_argument("--json", help="default experiments/results/crop_ab.json")
    args = ap.parse_args(argv)
    if args.rounds < 1:
        print("crop_ab: --rounds must be at least 1", file=sys.stderr)
        return 2
    videos = [Path(v) for v in args.videos] or sorted(VIDEOS.glob("*.mp4"))
    missing = [str(v) for v in videos if not v.is_file()]
    if not videos or missing:
        print(f"crop_ab: no such video: {', '.join(missing) or VIDEOS}", file=sys.stderr)
        return 2
    import common
    core = common.one_core(args.core)     # before JAX starts
    started = time.time()
    import cv2
    import numpy as np
    from dlm.io import images as imageio
    from dlm.io.provenance import cpu_name
    from dlm.landmarks import predictor as lmk
    from dlm.product import pipeline
    from dlm.product import roi as roi_lib

    cv2.setNumThreads(1)
    crops = {"area_to_twice": area_crop, "halving": roi_lib.warp_crop}
    results = {"cpu": cpu_name(), "core": core, "clips": {}}
    try:
        for video in videos:
            frames = list(imageio.VideoReader(str(video)))
            tracker = pipeline.Tracker((frames[0].shape[1], frames[0].shape[0]), lmk.shipped("realtime"), refit_every=0)
            rows = {k: [] for k in crops}
            searched = {k: [] for k in crops}
            sides = []
            for r in range(args.rounds + 1):           # round 0 untimed: every program compiles
                for name in (list(crops) if r % 2 == 0 else list(crops)[::-1]):
                    roi_lib.warp_crop = crops[name]
                    tracker.reset()
                    for f in frames:
                        t0 = time.perf_counter()
                        out = tracker(f)
                        ms = (time.perf_counter() - t0) * 1e3
                        if r > 0 and out.searched:
                            searched[name].append(ms)
                        if r > 0 and out.found and not out.searched:
                            rows[name].append((ms, out.timings_ms.get("roi", 0.0)))
                            if name == "halving" and out.roi is not None:
                                sides.append(out.roi.side)
                    tracker.wait_for_search()
            tracker.close()
            clip = {"frames": len(frames), "frame_size": [frames[0].shape[1], frames[0].shape[0]],
                    "tracked_roi_side_median_px": float(np.median(sides)) if sides else None, "crops": {}}
            for name, v in rows.items():
                v = np.asarray(v)
                clip["crops"][name] = dict(tracked_frames=len(v), median_ms=float(np.median(v[:, 0])),
                                           p90_ms=float(np.percentile(v[:, 0], 90)), crop_median_ms=float(np.median(v[:, 1])),
                                           searched_frames=len(searched[name]),
                                           searched_median_ms=float(np.median(searched[name])) if searched[name] else None)
            clip["halving_over_area_median"] = clip["crops"]["halving"]["median_ms"] / clip["crops"]["area_to_twice"]["median_ms"]
            results["clips"][video.name] = clip
            print(f"{video.name} (ROI side {clip['tracked_roi_side_median_px']:.0f} px): " + "; ".join(
                f"{n} {c['median_ms']:.2f} ms median, {c['p90_ms']:.2f} p90, crop {c['crop_median_ms']:.2f}, "
                f"{c['searched_frames']} searches {c['searched_median_ms'] or 0:.1f} ms median"
                for n, c in clip["crops"].items()) + f"; ratio {clip['halving_over_area_median']:.3f}x", flush=True)
    finally:
        roi_lib.warp_crop = crops["halving"]
    common.record("crop_ab", dict(videos=[v.name for v in videos], rounds=args.rounds, core=core), results,
                  out=args.json, started=started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
