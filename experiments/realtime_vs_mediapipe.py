"""dlm's real-time path against MediaPipe Face Mesh on the same frames, the same core, one run
(issue 20).

    python experiments/realtime_vs_mediapipe.py                    # the Hamilton clip, 3 passes each
    python experiments/realtime_vs_mediapipe.py --video clip.mp4 --passes 5 --core 1
    python experiments/realtime_vs_mediapipe.py --fps 29.97    # frames as a camera delivers them

The clip is decoded once; MediaPipe 0.10.14 (its own virtual environment, made by
experiments/peers.py on first use: never a dependency of dlm) tracks it in tracking mode
(`static_image_mode=False`, landmarks only), then `dlm bench realtime` (crop, CNN, the real-time
fit, the next ROI, the identity refit thread) tracks the same file, each in its own process pinned
to the same core, one thread.  Both skip the first 10 frames of each pass.  Run it on a quiet
machine: the figure that counts is the ratio of the two medians measured minutes apart.
MediaPipe's face detector (short range) finds the Hamilton clip's face only in part of the clip
(frames ~100-225): its median is over the frames where it returned landmarks, dlm's over the frames
it tracked.  Writes experiments/results/realtime_vs_mediapipe.{json,md}: each side's median and p90 per frame,
per-pass medians, and dlm / MediaPipe for both.  Frames go back to back by default, so dlm's background
work (the identity refit thread) takes its core time from the frames; with --fps they arrive at a
camera's rate and that work runs between them, as it does live.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
HERE = Path(__file__).resolve().parent
WARMUP = 10


def main(argv=None):
    from dlm.eval import bench
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--video", default=None, help="default: ../shared/real/video/short_hamilton_clip.mp4")
    ap.add_argument("--passes", type=int, default=3)
    ap.add_argument("--core", type=int, default=None, help="the CPU core both run on (default: the last allowed)")
    ap.add_argument("--max-frames", type=int, default=None)
    ap.add_argument("--refit-every", type=int, default=30,
                    help="dlm's identity refit schedule (dlm bench realtime --refit-every; 0: no refits)")
    ap.add_argument("--fps", type=float, default=0.0,
                    help="frames arrive at this rate, for both (dlm bench realtime --fps: background work runs "
                         "between frames; a frame that arrives during the previous one counts its wait); "
                         "default 0: back to back")
    ap.add_argument("--background-search", action="store_true",
                    help="dlm's full face search in a background thread, as dlm track --webcam runs it "
                         "(dlm bench realtime --background-search)")
    ap.add_argument("--hessian", choices=["lazy", "every"], default="lazy",
                    help="dlm's per-frame solve (dlm bench realtime --hessian): J^T J kept while steps succeed, or "
                         "built at every iteration")
    ap.add_argument("--iterations", type=int, default=None,
                    help="dlm's per-frame solve iterations (dlm bench realtime --iterations; default the tracker's)")
    ap.add_argument("--model", default="realtime",
                    help="dlm's landmark model (dlm bench realtime --model): a shipped name or a weights .npz")
    ap.add_argument("--json", default=str(HERE / "results" / "realtime_vs_mediapipe.json"))
    args = ap.parse_args(argv)
    if not args.fps >= 0:
        print(f"realtime_vs_mediapipe: --fps must be 0 (back to back) or positive, got {args.fps}", file=sys.stderr)
        return 2
    if args.model.endswith(".npz") and not os.path.exists(args.model):
        print(f"realtime_vs_mediapipe: --model {args.model}: no such weights file", file=sys.stderr)
        return 2
    video = args.video or bench.default_video()
    if not video or not os.path.exists(video):
        print(f"realtime_vs_mediapipe: {video or 'the default clip'}: no such video", file=sys.stderr)
        return 2
    import peers
    from dlm.io import images as imageio
    from dlm.io.files import write_json, write_text
    from dlm.io.provenance import environment
    core = args.core if args.core is not None else sorted(os.sched_getaffinity(0))[-1]
    # Each child pins itself, then becomes the command (no preexec_fn: this process runs JAX threads).
    pin = [sys.executable, "-c", f"import os, sys; os.sched_setaffinity(0, {{{core}}}); os.execv(sys.argv[1], sys.argv[1:])"]
    frames = np.stack(list(imageio.VideoReader(video, max_frames=args.max_frames)))
    t0 = time.perf_counter()
    say = lambda msg: print(f"[{time.perf_counter() - t0:6.0f} s] {msg}", file=sys.stderr, flush=True)  # noqa: E731
    say(f"{len(frames)} frames decoded; MediaPipe's environment (made on first use)")
    python = peers.ensure_venv("mediapipe")
    say(f"MediaPipe: {args.passes} passes on core {core}")
    with tempfile.TemporaryDirectory() as tmp:
        np.save(Path(tmp) / "frames.npy", frames)
        subprocess.run(pin + [str(python), str(HERE / "peers_runner.py"), "mediapipe_video",
                              str(Path(tmp) / "frames.npy"), str(Path(tmp) / "mp.npz"), str(args.passes), str(WARMUP),
                              str(args.fps)],
                       check=True, stderr=subprocess.DEVNULL)
        with np.load(Path(tmp) / "mp.npz") as z:
            mp_ms, mp_found = z["ms"], z["found"]
        say(f"MediaPipe done (median {np.median(mp_ms[mp_found]) if mp_found.any() else float('nan'):.2f} ms); "
            f"dlm bench realtime: {args.passes} passes on core {core} (compiles first, on that one core)")
        cmd = [sys.executable, "-m", "dlm", "--quiet", "bench", "realtime", "--video", video, "--passes", str(args.passes),
               "--threads", "1", "--refit-every", str(args.refit_every), "--fps", str(args.fps), "--hessian", args.hessian,
               "--model", args.model, "--json", str(Path(tmp) / "dlm.json")]
        if args.iterations:
            cmd += ["--iterations", str(args.iterations)]
        if args.max_frames:
            cmd += ["--max-frames", str(args.max_frames)]
        if args.background_search:
            cmd += ["--background-search"]
        subprocess.run(pin + cmd, check=True)
        ours = json.loads((Path(tmp) / "dlm.json").read_text())
        say(f"dlm done (median {ours['per_frame']['median_ms']:.2f} ms)")
    tracked = mp_ms[mp_found]
    if not len(tracked):
        print("realtime_vs_mediapipe: MediaPipe found no face in the timed frames", file=sys.stderr)
        return 1
    mp = dict(median_ms=float(np.median(tracked)), p90_ms=float(np.percentile(tracked, 90)),
              p99_ms=float(np.percentile(tracked, 99)), max_ms=float(tracked.max()),
              per_pass_median_ms=[float(np.median(m[f])) for m, f in zip(mp_ms, mp_found)],
              frames_timed=int(np.isfinite(mp_ms).sum()), frames_dropped=int(np.isnan(mp_ms).sum()),
              frames_found=int(mp_found.sum()), version=peers.PEERS["mediapipe"][0],
              every_frame_mean_ms=float(np.nanmean(mp_ms)),
              mode="tracking (static_image_mode=False), landmarks only")
    dlm_side = dict(median_ms=ours["per_frame"]["median_ms"], p90_ms=ours["per_frame"]["p90_ms"],
                    p99_ms=ours["per_frame"].get("p99_ms"), max_ms=ours["per_frame"].get("max_ms"),
                    refit_in_background=ours.get("refit_in_background"),
                    per_pass_median_ms=ours["per_pass_median_ms"], frames_timed=ours["frames_timed"],
                    frames_tracked=ours["frames_tracked"], frames_searched=ours["frames_searched"],
                    frames_dropped=ours.get("frames_dropped", 0), searched_frame=ours.get("searched_frame"),
                    frames_search_skipped=ours["frames_search_skipped"], max_search_gap=ours["max_search_gap"],
                    background_search=ours.get("background_search", False),
                    frames_search_started=ours.get("frames_search_started", 0),
                    every_frame_mean_ms=ours["every_frame"]["mean_ms"],
                    frames_found_near_lost_track=ours.get("frames_found_near_lost_track"),
                    frames_started=ours.get("frames_started"), started_frame=ours.get("started_frame"),
                    cnn_and_fit=ours.get("cnn_and_fit"), roi=ours.get("roi"),
                    model=args.model, network=ours["network"], input_size=ours["input_size"], landmarks=ours["landmarks"],
                    refit_every=ours.get("refit_every"), identity_refit_frames=ours.get("identity_refit_frames"),
                    hessian=ours.get("hessian"), solve_iterations=ours.get("solve_iterations"))
    result = dict(experiment="realtime_vs_mediapipe", video=os.path.basename(video), frames=int(len(frames)),
                  warmup_frames=WARMUP, passes=args.passes, core=core, fps=args.fps, environment=environment(),
                  mediapipe=mp, dlm=dlm_side,
                  ratio_median=dlm_side["median_ms"] / mp["median_ms"], ratio_p90=dlm_side["p90_ms"] / mp["p90_ms"],
                  ratio_every_frame_mean=dlm_side["every_frame_mean_ms"] / mp["every_frame_mean_ms"],
                  command="python experiments/realtime_vs_mediapipe.py " + " ".join(argv or sys.argv[1:]))
    write_json(args.json, result)
    md = (f"Same clip (`{result['video']}`, {len(frames)} frames, {args.passes} passes, first {WARMUP} of each untimed), "
          f"one core ({core}) of {result['environment']['cpu']}, one thread each, run one after the other, "
          + (f"frames arriving at {args.fps:g} per second (a frame's time counts any wait behind the previous "
             "one). " if args.fps else "frames back to back. ") +
          f"Command: `{result['command']}`.\n\n"
          "| | median ms per tracked frame | p90 ms | p99 / max ms | per-pass medians | mean ms over every frame |\n"
          "|---|---|---|---|---|---|\n"
          f"| MediaPipe Face Mesh ({mp['version']}, tracking mode, landmarks only) | {mp['median_ms']:.2f} | "
          f"{mp['p90_ms']:.2f} | {mp['p99_ms']:.1f} / {mp['max_ms']:.1f} | "
          f"{', '.join(f'{v:.2f}' for v in mp['per_pass_median_ms'])} | "
          f"{mp['every_frame_mean_ms']:.2f} |\n"
          f"| dlm real-time ({dlm_side['network']}, {dlm_side['landmarks']} landmarks, crop + CNN + 3D fit + ROI; "
          f"identity refits {'every ' + str(args.refit_every) + ' frames, doubling' if args.refit_every else 'off'}"
          + ("" if not args.refit_every or dlm_side["refit_in_background"] is None else
             (", in a background thread" if dlm_side["refit_in_background"] else ", inline")) + "; "
          f"{dlm_side['solve_iterations']} solve iterations, "
          f"J^T J {'kept while steps succeed' if args.hessian == 'lazy' else 'at every iteration'}) | "
          f"{dlm_side['median_ms']:.2f} | {dlm_side['p90_ms']:.2f} | "
          + ("" if dlm_side["p99_ms"] is None else f"{dlm_side['p99_ms']:.1f} / {dlm_side['max_ms']:.1f}") + " | "
          f"{', '.join(f'{v:.2f}' for v in dlm_side['per_pass_median_ms'] if v is not None)} | "
          f"{dlm_side['every_frame_mean_ms']:.2f} |\n"
          f"| dlm / MediaPipe | {result['ratio_median']:.2f}x | {result['ratio_p90']:.2f}x | | | "
          f"{result['ratio_every_frame_mean']:.2f}x |\n\n"
          f"Frames: MediaPipe returned landmarks on {mp['frames_found']} of {mp['frames_timed']}; dlm tracked "
          f"{dlm_side['frames_tracked']}, searched on {dlm_side['frames_searched']} and waited for the next "
          f"search on {dlm_side['frames_search_skipped']} (no face in view; back-off up to "
          f"{dlm_side['max_search_gap']} frames). The last column is what a whole clip costs.\n"
          + (f"\nThe full search ran in a background thread (--background-search, as `dlm track --webcam` runs it): "
             f"{dlm_side['frames_search_started']} frames started one, and the frames while it ran waited.\n"
             if dlm_side["background_search"] else "")
          + (f"\nFrames dropped (arrived while an older one ran; the newest is taken): MediaPipe "
             f"{mp['frames_dropped']}, dlm {dlm_side['frames_dropped']}.\n" if args.fps else "")
          + ("" if not dlm_side["frames_started"] else
             f"\nTracks started again: {dlm_side['frames_started']['pose']} kept the lost track's identity (pose from "
             f"the landmarks), {dlm_side['frames_started']['cold']} ran the offline cold start; "
             f"{dlm_side['frames_found_near_lost_track']} were found around the lost crop without a full search.\n"))
    write_text(Path(args.json).with_suffix(".md"), md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
