"""Timing: the real-time per-frame breakdown on one thread, and offline multi-view throughput.

Reproduce (run on an otherwise idle machine; 2-core CPU: 17 minutes, --quick about 4):
    python experiments/timing.py
    python experiments/timing.py --quick

1. Real time (`dlm bench realtime`, pinned to one core with one XLA thread): per tracked frame,
   crop + next ROI, then CNN + fit as one compiled program (fused), and the same with the CNN and
   the fit as two calls (`--no-fuse`), over ../shared/real/video/short_hamilton_clip.mp4 (skipped
   when that video is absent).  The paper's figures: 4.1 ms CNN, 2.6 ms fit per frame (its Table 9
   hardware is a different CPU).
2. Offline multi-view (the paper: a 520-frame sequence from 17 cameras, 3 min of landmark
   prediction and 9 min of fitting): `dlm bench fit --part offline` fits synthetic landmarks of
   F frames x 17 calibrated cameras (703 landmarks, temporal term on; second call, compiled) at
   two sequence lengths, and `dlm bench predictor --model offline` times one landmark crop
   (all threads).  The 520-frame figures are extrapolated linearly in frames from the two
   measured lengths (written as `extrapolated_*`; nothing at 520 frames is measured here).
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from common import RESULTS, markdown_table, record, start, write_table

ROOT = Path(__file__).resolve().parent.parent
VIDEO = ROOT.parent / "shared" / "real" / "video" / "short_hamilton_clip.mp4"


def get_config(quick: bool = False) -> dict:
    return dict(cameras=17, frames=[4, 8] if quick else [10, 30], paper_frames=520,
                realtime_passes=1 if quick else 3, realtime_max_frames=20 if quick else None,
                predictor_repeats=20 if quick else 100)


def _bench(args: list[str]) -> dict:
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "bench.json"
        cmd = [sys.executable, "-m", "dlm", "bench", *args, "--json", str(out)]
        print("==", " ".join(cmd[2:]), flush=True)
        subprocess.run(cmd, cwd=ROOT, check=True)
        return json.loads(out.read_text())


def main(argv=None):
    config, name, started = start(__doc__, get_config, "timing", argv)[1:]
    results: dict = {}
    rows = []
    if VIDEO.exists():
        extra = ["--passes", str(config["realtime_passes"])]
        if config["realtime_max_frames"]:
            extra += ["--max-frames", str(config["realtime_max_frames"])]
        for label, flags in (("fused", []), ("two calls", ["--no-fuse"])):
            r = _bench(["realtime", *extra, *flags])
            r.pop("environment", None)
            results[f"realtime_{label.replace(' ', '_')}"] = r
            med = lambda k: round(r[k]["median_ms"], 2) if r.get(k) else "-"  # noqa: E731
            rows.append([f"real time, {label}", med("roi"), med("cnn"), med("fit"), med("cnn_and_fit"),
                         med("per_frame"), round(r["per_frame"]["mean_ms"], 2), r["frames_tracked"]])
    else:
        results["realtime"] = f"skipped: {VIDEO} is absent"
    pred = _bench(["predictor", "--model", "offline", "--threads", "0", "--repeats", str(config["predictor_repeats"])])
    results["offline_predictor"] = pred["results"]
    crop_ms = pred["results"]["crop_and_network"]["median_ms"]
    fits = {}
    for f in config["frames"]:
        r = _bench(["fit", "--part", "offline", "--frames", str(f), "--cameras", str(config["cameras"]),
                    "--threads", "0"])["offline"]
        fits[f] = r
    results["offline_fit"] = {str(f): r for f, r in fits.items()}
    (f1, r1), (f2, r2) = sorted(fits.items())[:2]
    slope = (r2["wall_s_second_call"] - r1["wall_s_second_call"]) / (f2 - f1)
    n = config["paper_frames"]
    results["extrapolated_520_frames"] = dict(
        fit_minutes=round((r1["wall_s_second_call"] + slope * (n - f1)) / 60, 2),
        landmark_minutes=round(n * config["cameras"] * crop_ms / 1000 / 60, 2),
        basis=f"fit: linear in frames through {f1} and {f2} frames x {config['cameras']} cameras; "
              f"landmarks: {n} x {config['cameras']} crops at the median single-crop latency")
    rec = record(name, config, results, RESULTS / f"{name}.json", started)
    table = ""
    if rows:
        table += markdown_table(["real-time path (one thread)", "crop + ROI (ms)", "CNN (ms)", "fit (ms)",
                                 "CNN + fit (ms)", "frame median (ms)", "frame mean (ms)", "frames"], rows) + "\n"
    table += markdown_table(["offline, 17 cameras", "frames", "fit wall (s)", "iterations", "landmark crop (ms)"],
                            [["measured", f, round(r["wall_s_second_call"], 1), r["iterations"], round(crop_ms, 1)]
                             for f, r in fits.items()]
                            + [["extrapolated", n, round(results["extrapolated_520_frames"]["fit_minutes"] * 60),
                                "-", "-"]])
    e = results["extrapolated_520_frames"]
    write_table(name, f"Timing on this machine, medians. A 520-frame, 17-camera sequence, extrapolated: "
                f"{e['landmark_minutes']} min of landmark prediction (paper: 3) and {e['fit_minutes']} min of fitting "
                f"(paper: 9); landmark network {pred['results']['network']} ({pred['results']['landmarks']} "
                f"landmarks)", rec, table)
    print(table)


if __name__ == "__main__":
    main()
