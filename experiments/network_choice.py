"""Choose the landmark network by measurement (issue 31 part 1): the same pool, the same
augmentation, the same wall-clock budget per variant, one run at a time; each scored on the real
dev photos and the synthetic test set.

    python experiments/network_choice.py --minutes 35                     # every variant, ~35 min each
    python experiments/network_choice.py --minutes 35 --variants mnv2_100_imagenet,mnv2_050_random

Run it with nothing else on the CPU (or on the accelerator machine): the budget is wall clock, so
a busy machine shortchanges the variants that run while it is busy.  Each variant trains in
$DLM_CACHE/runs/network_choice/<variant> (rerunning continues a variant until its budget is spent,
a finished one is only scored again) and the table goes to experiments/results/network_choice.{json,md}:
samples seen, images/s, synthetic NME, dev balanced / inner-51 / failure rate (> 10%), predictor
median ms on one thread.  The pool is the campaign's (pools/pool160_24k in the cache folder).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
HERE = Path(__file__).resolve().parent
IMAGENET = "third_party/imagenet_mobilenetv2/mobilenetv2_imagenet.npz"

# name -> TrainConfig fields that differ from BASE.  The learning rate is the campaign's (2e-3,
# AdamW, cosine over the variant's own budget of steps it cannot reach in the time: the rate stays
# near its peak, as in a campaign's early sessions).
VARIANTS = {
    "mnv2_050_random": dict(network="mobilenetv2_050"),
    "mnv2_050_shipped": dict(network="mobilenetv2_050", init_from="realtime"),
    "mnv2_100_random": dict(network="mobilenetv2"),
    "mnv2_100_imagenet": dict(network="mobilenetv2", init_backbone=IMAGENET),
    "mnv2_100_imagenet_96px": dict(network="mobilenetv2", init_backbone=IMAGENET, size=96),
}
BASE = dict(landmark_set="320", size=128, batch_size=32, steps=100_000, loss="gnll", lr=2e-3, warmup_steps=300,
            data_seed=101, seed=0, eval_every=10**9, checkpoint_every=250, log_every=50,
            pool="pools/pool160_24k", real_eval_dir=None)


def predictor_ms(weights: Path, repeats: int = 50) -> float:
    """Median ms of crop + network on one 200 x 200 image (this process's threads)."""
    import numpy as np
    from dlm.landmarks import predictor as lmk
    pred = lmk.Predictor.load(weights)
    img = np.full((200, 200, 3), 128, np.uint8)
    lmk.predict_landmarks(img, model=pred)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        lmk.predict_landmarks(img, model=pred)
        times.append((time.perf_counter() - t) * 1e3)
    return float(np.median(times))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=35.0, help="wall-clock training budget per variant")
    ap.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated, of {', '.join(VARIANTS)}")
    ap.add_argument("--dev", default=None, help="AFLW2000-3D dev folder (default ../shared/real/aflw2000_dev)")
    args = ap.parse_args(argv)
    names = [v for v in args.variants.split(",") if v]
    unknown = [v for v in names if v not in VARIANTS]
    if unknown:
        print(f"network_choice: unknown variants {unknown}; choose from {sorted(VARIANTS)}", file=sys.stderr)
        return 2
    from dlm.eval import aflw2000
    from dlm.io.files import write_json, write_text
    from dlm.io.provenance import cache_dir, environment, shared_real_path
    from dlm.landmarks import predictor as lmk
    from dlm.train import loop as train
    dev = args.dev or shared_real_path("aflw2000_dev")
    results = {}
    out = HERE / "results" / "network_choice.json"
    if out.exists():
        results = json.loads(out.read_text()).get("results", {})
    for name in names:
        cfg = train.TrainConfig(**dict(BASE, name=f"network_choice_{name}", **VARIANTS[name]))
        workdir = Path(cache_dir("runs", "network_choice", name))
        done = 0.0
        if (workdir / "progress.json").exists():
            done = json.loads((workdir / "progress.json").read_text()).get("train_seconds", 0.0) / 60
        left = args.minutes - done
        print(f"== {name}: {done:.1f} of {args.minutes:g} min trained", flush=True)
        test = train.train_and_evaluate(cfg, workdir, quiet=True, minutes=max(left, 1e-9))
        manifest = json.loads((workdir / "weights.json").read_text())
        session = json.loads((workdir / "session.json").read_text())
        progress = json.loads((workdir / "progress.json").read_text())
        r = aflw2000.eval_aflw2000(dev, lmk.Predictor.load(workdir / "weights.npz"), roi="gt")
        results[name] = dict(config=dataclasses.asdict(cfg), minutes=progress["train_seconds"] / 60,
                             steps=progress["step"], samples=progress["step"] * cfg.batch_size,
                             samples_seen_chain=manifest.get("samples_seen"),
                             images_per_s=progress["step"] * cfg.batch_size / max(progress["train_seconds"], 1e-9),
                             synthetic_nme=test["nme"], dev=aflw2000.summary(r),
                             predictor_ms=predictor_ms(workdir / "weights.npz"), last_session=session)
        write_json(out, dict(experiment="network_choice", minutes_per_variant=args.minutes, dev=dev,
                             environment=environment(), results=results,
                             command="python experiments/network_choice.py " + " ".join(sys.argv[1:])))
    rows = ["| variant | minutes | samples | img/s | synthetic NME | dev balanced | dev inner 51 | dev failures | "
            "crop + network ms |", "|---|---|---|---|---|---|---|---|---|"]
    for name, v in results.items():
        rows.append(f"| {name} | {v['minutes']:.1f} | {v['samples']:,} | {v['images_per_s']:.1f} | "
                    f"{100 * v['synthetic_nme']:.2f}% | {100 * v['dev']['nme_balanced']:.2f}% | "
                    f"{100 * v['dev']['nme_inner51']:.2f}% | {100 * v['dev']['failure_rate_10']:.1f}% | "
                    f"{v['predictor_ms']:.2f} |")
    write_text(out.with_suffix(".md"), f"Equal wall-clock budget per variant ({args.minutes:g} min), pool "
               f"`{BASE['pool']}`, dev `{dev}`. Command: `python experiments/network_choice.py "
               f"{' '.join(sys.argv[1:] if argv is None else argv)}`.\n\n" + "\n".join(rows) + "\n")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
