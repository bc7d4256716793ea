"""GNLL versus L2: the same network, data and schedule trained with each loss (the paper's Table 8).

Reproduce:
    python experiments/gnll_vs_l2.py --quick      # tiny 68-landmark network, 60 steps: a smoke test (3 min CPU)
    python experiments/gnll_vs_l2.py              # the shipped real-time config, twice (GPU; ~4 h on 2 CPU cores)
    python experiments/gnll_vs_l2.py --config experiments/configs/OTHER.py --workdir runs/gnll_vs_l2_other

Each run trains `--config` with loss "gnll" and with loss "l2" (everything else equal: network,
data seed, test set, steps, learning rate) in WORKDIR/{gnll,l2} (resumable after a kill: rerun
the command), then reports for both: NME on the held-out synthetic test set, overall and per
region (dlm.train.loop.evaluate), and 68-point NME on AFLW2000-3D with the ground-truth region of
interest (dlm.eval.aflw2000, default the 16-image sample in ../shared/real, skipped when absent).
The --quick result says only that the pipeline runs: its networks are barely trained.
experiments/cnn_study.py makes the same comparison at a budget a 2-core CPU can afford (both
losses on the same pre-rendered images, 1500 steps), next to the landmark-count study.
"""
from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

from common import RESULTS, markdown_table, record, write_table

HERE = Path(__file__).resolve().parent
AFLW_SAMPLE = HERE.parent.parent / "shared" / "real" / "aflw2000_sample"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--config", default=None, help="training config (default: the real-time model's; --quick: quick.py)")
    ap.add_argument("--workdir", default=None, help="default runs/gnll_vs_l2[_quick]")
    ap.add_argument("--aflw2000", default=str(AFLW_SAMPLE))
    ap.add_argument("--name", default=None)
    args = ap.parse_args(argv)
    started = time.time()
    from dlm.eval import aflw2000 as evaluation
    from dlm.train import loop as train
    config_path = args.config or str(HERE / "configs" / ("quick.py" if args.quick else "realtime_mnv2050_320.py"))
    base = train.load_config(config_path)
    if args.quick:  # enough steps at a fixed rate that the two losses part (the range test picks ~4e-5 here)
        base = dataclasses.replace(base, steps=60, lr=3e-3)
    name = args.name or ("gnll_vs_l2_quick" if args.quick else "gnll_vs_l2")
    workdir = Path(args.workdir or (HERE.parent / "runs" / name))
    results = {}
    for loss in ("gnll", "l2"):
        cfg = dataclasses.replace(base, loss=loss, name=f"{base.name}_{loss}")
        test = train.train_and_evaluate(cfg, workdir / loss)
        r = dict(synthetic_test=test)
        if Path(args.aflw2000).is_dir():
            a = evaluation.eval_aflw2000(args.aflw2000, str(workdir / loss / "weights.npz"), roi="gt")
            r["aflw2000_gt_roi"] = {k: a[k] for k in ("num_images", "nme_mean", "nme_balanced", "yaw_bins",
                                                      "failure_rate_10")}
        results[loss] = r
    rec = record(name, dict(config=config_path, train=dataclasses.asdict(base), workdir=str(workdir)), results,
                 RESULTS / f"{name}.json", started)
    regions = sorted(results["gnll"]["synthetic_test"]["nme_by_region"])
    pct = lambda v: "-" if v is None else round(100 * v, 2)  # noqa: E731
    rows = []
    for loss, r in results.items():
        t = r["synthetic_test"]
        a = r.get("aflw2000_gt_roi", {})
        rows.append([loss, pct(t["nme"]), pct(t["nme_68"]), *(pct(t["nme_by_region"][g]) for g in regions),
                     pct(a.get("nme_balanced")), pct(a.get("nme_mean"))])
    table = markdown_table(["loss", "synthetic NME (%)", "68 (%)", *regions, "AFLW2000 balanced (%)",
                            "AFLW2000 mean (%)"], rows)
    write_table(name, f"GNLL vs L2, `{Path(config_path).name}` ({base.steps} steps of {base.batch_size}); AFLW2000 "
                f"from `{Path(args.aflw2000).name}` with the ground-truth ROI"
                + ("; quick: barely trained networks, a smoke test only" if args.quick else ""), rec, table)
    print(table)


if __name__ == "__main__":
    main()
