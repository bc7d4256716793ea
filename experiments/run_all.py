"""Run every experiment, then rebuild docs/results.md from the result tables.

    python experiments/run_all.py --quick --peers none   # every quick variant, 2 at a time (CI; 16 min)
    python experiments/run_all.py --quick                # the same, installing MediaPipe and dlib for peers.py
    python experiments/run_all.py                        # the full runs, one at a time (CPU: hours; see each script)
    python experiments/run_all.py --docs-only            # only redraw the plots kept in result files and rebuild docs/results.md

Quick runs write *_quick result files, which docs/results.md does not include: it shows the full
runs committed under experiments/results/.  The quick run took 16 min 17 s on an idle 2-core CPU
from a clean clone (cold compilation cache; compilation is most of it).  With `--jobs N` (quick default 2, full default 1) up
to N scripts run at once, each chain below in order; batch_scaling.py and timing.py always run alone, last,
because they measure time.  Each script's output goes to experiments/cache/logs/SCRIPT.log (its last lines are
printed when it fails).
"""
from __future__ import annotations

import argparse
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
LOGS = HERE / "cache" / "logs"

# script -> (quick arguments, full arguments)
ARGS = {
    "realtime_iterations.py": (["--seeds", "1", "--frames", "20", "--iters", "2,4", "--json",
                                str(HERE / "results" / "realtime_iterations_quick.json")], []),
    "now_synth.py": (["--quick"], []),
    "ablate_fit.py": (["--quick"], []),
    "tune_weights.py": (["--quick"], []),
    "landmark_count.py": (["--quick"], []),
    "video_synth.py": (["--quick"], []),
    "tracker_identity.py": (["--quick"], []),
    "timing.py": (["--quick"], []),
    "peers.py": (["--quick"], []),
    "gnll_vs_l2.py": (["--quick"], []),
    "cnn_study.py": (["--quick"], []),
    "batch_scaling.py": (["--quick"], []),
}
# Chains run in order within themselves (ablate_fit and tune_weights reuse now_synth's cached
# detections); the longest first, so that the last ones to finish are short.
CHAINS = [
    ["now_synth.py", "ablate_fit.py", "tune_weights.py"],
    ["video_synth.py", "tracker_identity.py"],
    ["cnn_study.py"],
    ["landmark_count.py"],
    ["gnll_vs_l2.py"],
    ["realtime_iterations.py"],
    ["peers.py"],
]
ALONE = ["batch_scaling.py", "timing.py"]
EXPERIMENTS = [s for chain in CHAINS for s in chain] + ALONE
assert sorted(EXPERIMENTS) == sorted(ARGS)

# Full-run tables included in docs/results.md, in this order, with a heading each.
TABLES = [
    ("now_synth", "Synthetic NoW-like benchmark (neutral face from photos)"),
    ("ablate_fit", "Fitting ablations: energy terms and sigma"),
    ("ablate_fit_iterations", "The offline fit's iteration cap: 3D error against time"),
    ("video_synth", "Synthetic MICC-like video benchmark: per-frame average vs joint fit, temporal term, ablations"),
    ("tracker_identity", "Real-time tracker: identity refit schedules, accuracy and cost (issue 20)"),
    ("cnn_study", "CNN study at CPU scale: landmark count (trained CNNs) and GNLL vs L2"),
    ("landmark_count", "Landmark count (simulated detector)"),
    ("tune_weights", "Differentiable tuning of the prior weights"),
    ("timing", "Timing"),
    ("peers", "Peers: MediaPipe Face Mesh and dlib, 68-point NME"),
    ("gnll_vs_l2", "GNLL versus L2 at the shipped model's scale (landmark accuracy)"),
    ("batch_scaling", "Batch fitting: fits/s and compile time by batch size and device count"),
    # Written by hand from the campaign's records (experiments/results/realtime_pool_320/).
    ("training_at_scale", "Training at scale on the CPU (issue 18): engine and the first campaign"),
    # Written by experiments/campaigns.py from the campaign's session lines.
    ("campaign_realtime_320", "Campaign: the real-time network, one line per training session (issue 31)"),
    ("campaign_realtime_env96k_320", "Campaign 2: four times the distinct renders (HDRI-lit 96k pool)"),
    ("campaign_realtime_real48k_320", "Campaign 3: the shipped network fine-tuned on renders with every realism switch"),
    ("campaign_realtime_real96k_320", "Campaign 4: campaign 3 continued on its pool grown to 96,000 renders"),
    ("campaign_realtime_real5_320", "Campaign 5: shoulders and eyelashes (shipped until campaign 7, dev 6.54%)"),
    ("campaign_realtime_real7b_320", "Campaign 6: two new pools, one with beards that have volume (not shipped)"),
    ("campaign_realtime_real9n_320", "Campaign 7: natural light colour, colour gain 0.04, more grey, one pool in one session (shipped, dev 6.47%)"),
    ("campaign_realtime_real10s_320", "Campaign 8: cast shadows and the HDRI background fixed, one pool in one session (not shipped, dev 6.52%)"),
    ("campaign_realtime_real10n_320", "Campaign 9: two pools of the shipped kind (renderer version 1, seeds 9 and 10) in one session (not shipped, dev 6.60%)"),
    ("campaign_realtime_lenses_320", "Campaign 10: two pools with lenses in the glasses (renderer version 2, seeds 10 and 11) in one session (not shipped, dev 6.51%)"),
    ("campaign_offline_mnv2100_703", "The offline network's campaign: MobileNetV2 x1.0 from ImageNet features, 703 landmarks"),
    ("campaign_offline_mnv2100_703_c2", "The offline network's second campaign: a warm restart on a third pool (seed 9)"),
    ("campaign_offline_mnv2100_703_ft9n", "The offline network fine-tuned in one session on a pool it had not seen (not shipped)"),
    ("campaign_offline_mnv2100_703_ft10n", "The offline network fine-tuned at 3e-4 on two pools of the latest kind (not shipped)"),
    ("campaign_offline_mnv2100_703_lenses", "The offline network fine-tuned at 3e-4 on two pools with lenses in the glasses (shipped, dev 6.46%)"),
    ("campaign_offline_mnv2100_703_s160", "The offline network fine-tuned at 160-px input on the lens pools (shipped, dev 6.33%)"),
    ("campaign_offline_mnv2100_703_s160b", "The 160-px offline network's second fine-tune, new draws (not shipped: dev 6.29% on ground-truth crops, worse with its own face finding)"),
    ("campaign_offline_mnv2100_703_s160c", "The 160-px offline network fine-tuned on a new lens pool (shipped in session 62 with the face finder's re-framing roll: dev 6.20% on ground-truth crops, 6.21% with its own face finding)"),
    ("campaign_offline_mnv2100_703_s160e", "s160d continued on the seed-13 and a new seed-14 lens pool (not shipped: dev 6.31% on ground-truth crops, worse than its start)"),
    ("campaign_offline_mnv2100_703_s160f", "the shipped s160c over the seed-12, 13 and 14 lens pools at once, 6,000 steps at peak 1e-4 (not shipped: dev 6.1997% against 6.1992%, synthetic 4.07 -> 4.00%)"),
    ("campaign_offline_mnv2100_703_s160d", "s160c continued on the seed-12 and a new seed-13 lens pool (not shipped: dev 6.18% on ground-truth crops, 6.218% vs 6.215% with its own face finding)"),
    ("probes", "Probes: one change each, paired short fine-tunes on real photos (issue 21)"),
    # Written by experiments/network_choice.py and experiments/realism_probe.py (equal budgets, real dev photos).
    ("network_choice", "Which network: equal wall-clock budgets scored on real photos (issue 31)"),
    ("realism_probe", "Realism probes: renderer features at equal samples, synthetic vs real (issue 21)"),
    ("realism_finetune", "Realism on a trained network: each pool's short fine-tune from the same weights (issue 21)"),
    # Written by experiments/tta_probe.py.
    ("tta_probe", "Test-time averaging for photos: mirror, turned, scaled and shifted crops"),
    # Written by experiments/face_finder_ab.py.
    ("face_finder_ab", "The face finder's fallback: unsure detector boxes against the full search (own face finding)"),
    ("face_finder_turns", "The face finder's unsure detector boxes judged at quarter turns (own face finding)"),
    ("face_finder_eye_roll", "The face finder's re-framing roll: the eye line always, or as far as the eyes are apart"),
    # Written by experiments/tracker_profiles.py.
    ("tracker_profiles", "The tracker's re-framing roll on still clips of the dev profiles"),
    # Written by experiments/ensemble_probe.py.
    ("ensemble_probe", "Two networks on one photo: the offline and real-time networks' landmarks combined"),
    # Written by experiments/detail_probe.py.
    ("detail_probe", "How much detail the networks use: crops cut smaller and resized to the input (issue 21)"),
    # Written by experiments/dev_photo_conditions.py.
    ("dev_photo_conditions", "Which real photos fail: the dev photos' error by condition (issue 21)"),
    # Written by experiments/label_translation.py (run by ship_weights.py for each shipped network).
    ("label_translation_realtime_mnv2050_320", "Label translation to AFLW2000-3D's 68 points (the paper's practice for benchmarks)"),
    ("peers_translated", "dlm and MediaPipe on real photos, each with the same label translation"),
    ("peers_translated_offline", "dlm's photo (offline) network and MediaPipe on real photos, each with the same label translation"),
    # Written by experiments/calibrate_quality.py (run by ship_weights.py for each shipped network).
    ("face_quality", "Detected-face quality: right faces kept, wrong faces flagged (issue 29)"),
]


def build_docs() -> Path:
    from dlm.io.files import write_text
    from plots import draw
    import campaigns
    campaigns.write_all()
    for name, _ in TABLES:   # plots drawn from result files alone (the others come with their runs)
        draw(name)
    parts = ["# Results\n\nGenerated by `python experiments/run_all.py --docs-only` from the result files in "
             "`experiments/results/`; each table names the command that produced it.\n"]
    for name, title in TABLES:
        md = HERE / "results" / f"{name}.md"
        parts.append(f"\n## {title}\n\n" + (md.read_text() if md.exists() else "_not run yet_\n"))
        if (HERE / "results" / f"{name}.png").exists():
            parts.append(f"\n![{title}](../experiments/results/{name}.png)\n")
    out = ROOT / "docs" / "results.md"
    write_text(out, "".join(parts))
    return out


def _run(script: str, args, env: dict, lock: threading.Lock) -> int:
    cmd = [sys.executable, str(HERE / script)] + ARGS[script][0 if args.quick else 1]
    if script == "peers.py" and args.peers is not None:
        cmd += ["--peers", args.peers]
    LOGS.mkdir(parents=True, exist_ok=True)
    log = LOGS / f"{script[:-3]}.log"
    with lock:
        print(f"== {' '.join(cmd[1:])}  (log: {log.relative_to(ROOT)})", flush=True)
    t0 = time.time()
    with open(log, "w") as f:
        rc = subprocess.run(cmd, cwd=HERE, env=env, stdout=f, stderr=subprocess.STDOUT).returncode
    with lock:
        if rc:   # the end of its log: the traceback
            tail = log.read_text(errors="replace").replace("\r", "\n").splitlines()[-60:]
            print(f"-- last {len(tail)} lines of {log}:\n" + "\n".join(tail), flush=True)
        print(f"== {script}: exit {rc} in {time.time() - t0:.0f} s", flush=True)
    return rc


def run_experiments(args, env: dict) -> list[str]:
    """Run the chains on `args.jobs` workers, then ALONE; the names of the scripts that failed."""
    failed, lock, todo = [], threading.Lock(), queue.Queue()
    for chain in CHAINS:
        todo.put(chain)

    def worker():
        while True:
            try:
                chain = todo.get_nowait()
            except queue.Empty:
                return
            for script in chain:
                if _run(script, args, env, lock):
                    with lock:
                        failed.append(script)
                    break   # the rest of a chain needs this one's output

    workers = [threading.Thread(target=worker) for _ in range(max(1, args.jobs))]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    for script in ALONE:
        if _run(script, args, env, lock):
            failed.append(script)
    return failed


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--docs-only", action="store_true")
    ap.add_argument("--jobs", type=int, default=None, help="scripts at once (default: 2 with --quick, else 1)")
    ap.add_argument("--peers", default=None,
                    help="passed to peers.py: the peers to install and run ('none' in CI: their environments "
                         "take ~1.5 GB from PyPI)")
    args = ap.parse_args(argv)
    if args.jobs is None:
        args.jobs = 2 if args.quick else 1
    sys.path.insert(0, str(HERE))
    # One persistent compilation cache for every script: they compile the same fitters and
    # networks, and XLA's compile time dominates the quick runs (one offline fit's first call:
    # 42 s cold, 14 s from the cache).
    env = dict(os.environ)
    env.setdefault("JAX_COMPILATION_CACHE_DIR", str(HERE / "cache" / "jax"))
    env.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.5")
    t0 = time.time()
    failed = [] if args.docs_only else run_experiments(args, env)
    print(build_docs())
    if not args.docs_only:
        print(f"== all: {time.time() - t0:.0f} s, {len(failed)} failed", flush=True)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
