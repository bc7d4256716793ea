"""CNN study at CPU scale: landmark count (the paper's Fig. 11) and GNLL vs L2 (its Table 8).

Reproduce (2-core CPU: the full run about 2 hours, most of it training; --quick about 3 minutes):
    python experiments/cnn_study.py
    python experiments/cnn_study.py --quick       # tiny networks, a smoke test (CI)

Four landmark networks with everything equal but the landmark set or the loss: 703 / 320 / 68
landmarks with GNLL, and 320 with L2.  Same architecture (MobileNetV2 x0.5 at 128 px, the
shipped real-time network), initialisation seed, learning rate and schedule, and the *same
images in the same order*: one synthetic dataset is rendered once with every landmark of every
set (`dlm synth --landmarks all`) and each run reads its own set's labels from it
(`TrainConfig.dataset`).  Runs resume after a kill (rerun the command).

This is a budget-matched comparison, not the paper's scale: `steps` x `batch_size` images from
`dataset_num` renders on a 2-core CPU (the paper trains ResNets for days on GPUs; issue 4).
Absolute errors are therefore far above the paper's; the comparisons between runs are the point.

Reported per network:
- held-out synthetic test NME (same 256 renders for every set; per region; `dlm.train.loop.evaluate`),
- 68-point NME on AFLW2000-3D with the ground-truth crop (the 16-image sample in ../shared/real;
  skipped when absent),
- GNLL networks: the 3D error of fitting their landmarks on the NoW-like benchmark
  (experiments/now_synth.py's renders; the first `now_images` images of the first `now_subjects`
  subjects).  Every network sees the same crop of each image (the region of interest that the
  shipped real-time model found, cached by now_synth), so only the landmarks differ; sigma is each
  network's own; single-view offline fit with hand-set weights; NoW protocol, mm.  The mean face
  (the prior's mean identity, no fit) on the same images is the row every network must beat.
"""
from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import numpy as np

from common import RESULTS, markdown_table, record, start, write_table
from now_synth import Scorer, detect_dataset, fit_identities, get_config as now_config, plot_cumulative, \
    render_subject, summarise

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
AFLW_SAMPLE = ROOT.parent / "shared" / "real" / "aflw2000_sample"
YAW_BINS = ("0-30", "30-60", "60-90")   # dlm.eval.aflw2000.eval_aflw2000's |yaw| bins, degrees
RUNS = (("703", "gnll"), ("320", "gnll"), ("68", "gnll"), ("320", "l2"))


def get_config(quick: bool = False) -> dict:
    train = dict(network="tiny" if quick else "mobilenetv2_050", size=64 if quick else 128,
                 batch_size=8 if quick else 32, steps=12 if quick else 1500, lr=3e-3 if quick else 2e-3,
                 warmup_steps=4 if quick else 100, seed=0, data_seed=0, test_seed=1_000_003,
                 test_num=16 if quick else 256, eval_every=10**9, checkpoint_every=4 if quick else 100,
                 log_every=4 if quick else 25)
    return dict(dataset_num=48 if quick else 12000, dataset_seed=20_000, train=train,
                runs=[list(r) for r in RUNS], now_subjects=1 if quick else 30, now_images=1 if quick else 2)


def _key(d) -> str:
    return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:12]


def make_dataset(config: dict, workdir: Path) -> Path:
    """The shared training images (rendered once; reused by every run and by a rerun)."""
    from dlm.synth import dataset as synth_dataset
    t = config["train"]
    folder = workdir / f"data_{_key([config['dataset_num'], config['dataset_seed'], t['size']])}"
    if not (folder / "labels.npz").exists():
        t0 = time.time()
        synth_dataset.write_dataset(folder, config["dataset_num"], t["size"], config["dataset_seed"], "all",
                            progress=lambda i, n: print(f"\rrender {i}/{n} ({time.time() - t0:.0f} s)", end="",
                                                        flush=True))
        print()
    return folder


def now_landmarks(config: dict, weights: Path, now: dict, data: dict) -> dict:
    """Landmarks of one network on the NoW-like images, in the cached crops of the shipped model."""
    from dlm.core import facemodel as fm
    from dlm.landmarks import predictor as lmk
    from dlm.product import roi as roi_lib
    from dlm.synth import render as synth
    model = fm.load_face_model()
    assets = synth.make_assets(model)
    pred = lmk.Predictor.load(weights)
    n, k, L = now["subjects"], now["images"], pred.num_landmarks
    out = dict(mu=np.zeros((n, k, L, 2), np.float32), sigma=np.ones((n, k, L), np.float32),
               found=data["found"].copy(), identity=data["identity"], roi=data["roi"])
    for i in range(n):
        images, _ = render_subject(now, model, assets, i)
        for j, im in enumerate(images):
            if data["found"][i, j]:
                cx, cy, side, angle = data["roi"][i, j]
                mu, sigma, _ = roi_lib.predict_in(im, [roi_lib.Roi((float(cx), float(cy)), float(side),
                                                                   float(angle))], pred)
                out["mu"][i, j], out["sigma"][i, j] = mu[0], sigma[0]
    return out


def main(argv=None):
    def extra(ap):
        ap.add_argument("--workdir", default=None, help="default runs/NAME (resumable)")
        ap.add_argument("--aflw2000", default=str(AFLW_SAMPLE), help="AFLW2000-3D folder (default: the sample)")
    args, config, name, started = start(__doc__, get_config, "cnn_study", argv, ("dataset_num", "now_subjects"),
                                        extra)
    workdir = Path(args.workdir or (ROOT / "runs" / name)).resolve()
    from dlm.eval import aflw2000 as evaluation
    from dlm.core import facemodel as fm
    from dlm.train import loop as train
    dataset = make_dataset(config, workdir)
    now = dict(now_config(False), subjects=config["now_subjects"], images=config["now_images"])
    now_data = detect_dataset(now)   # the shipped model's crops (and its own landmarks, unused here)
    model = fm.load_face_model()
    scorer = Scorer(model)
    results, dist = {}, {}
    for landmark_set, loss in config["runs"]:
        run = f"{landmark_set}_{loss}"
        cfg = train.TrainConfig(name=f"cnn_study_{run}", landmark_set=landmark_set, loss=loss,
                                dataset=str(dataset), **config["train"])
        t0 = time.time()
        test = train.train_and_evaluate(cfg, workdir / run)
        r = dict(synthetic_test=test, train_seconds_this_call=round(time.time() - t0, 1))
        weights = workdir / run / "weights.npz"
        if Path(args.aflw2000).is_dir():
            a = evaluation.eval_aflw2000(args.aflw2000, str(weights), roi="gt")
            r["aflw2000_gt_roi"] = {k: a[k] for k in ("num_images", "nme_mean", "nme_balanced", "yaw_bins",
                                                      "failure_rate_10")}
        if loss == "gnll":
            data = now_landmarks(config, weights, now, now_data)
            fitted = fit_identities(data, dict(now, model=str(weights)), model=model, progress=f"fit {run}")
            dist[run] = [scorer(v, data["identity"][i]) for (i, _), v in sorted(fitted.items())]
            r["now_single_view"] = summarise(dist[run])
        results[run] = r
        print(f"{run}: synthetic NME {test['nme']:.4f}", flush=True)
    # The baseline every fit must beat: the prior's mean identity, scored on the same images.
    dist["mean face"] = [scorer(np.zeros_like(now_data["identity"][i]), now_data["identity"][i])
                         for i in range(now["subjects"]) for j in range(now["images"]) if now_data["found"][i, j]]
    results["mean_face"] = dict(now_single_view=summarise(dist["mean face"]))
    rec = record(name, dict(config, dataset=str(dataset), workdir=str(workdir)), results, RESULTS / f"{name}.json",
                 started)
    pct = lambda v: "-" if v is None else round(100 * v, 2)  # noqa: E731
    rows = []
    for run, r in results.items():
        t, a, now_r = r.get("synthetic_test", {}), r.get("aflw2000_gt_roi", {}), r.get("now_single_view")
        rows.append([run.replace("_", ", ") if t else "mean face (no fit)", pct(t.get("nme")), pct(t.get("nme_68")),
                     *(pct(a["yaw_bins"][b]["nme"]) if a else "-" for b in YAW_BINS), pct(a.get("nme_balanced")),
                     "-" if now_r is None else round(now_r["median_mm"], 3),
                     "-" if now_r is None else round(now_r["mean_mm"], 3)])
    table = markdown_table(["landmarks, loss", "synthetic NME, all (%)", "synthetic NME, 68 (%)",
                            *(f"AFLW2000 yaw {b} (%)" for b in YAW_BINS), "AFLW2000 balanced (%)", "NoW-like median (mm)", "NoW-like mean (mm)"], rows)
    regions = sorted(results["320_gnll"]["synthetic_test"]["nme_by_region"])
    by_region = markdown_table(["320 landmarks", *regions], [
        [loss, *(pct(results[f"320_{loss}"]["synthetic_test"]["nme_by_region"][g]) for g in regions)]
        for loss in ("gnll", "l2") if f"320_{loss}" in results])
    t = config["train"]
    write_table(name, f"CNN study at CPU scale: {t['network']} at {t['size']} px, {t['steps']} steps of "
                f"{t['batch_size']} from the same {config['dataset_num']} renders for every run; NoW-like: "
                f"{now['subjects']} subjects x {now['images']} images, single view, the shipped model's crops; "
                f"AFLW2000 from `{Path(args.aflw2000).name}` with the ground-truth crop"
                + ("; quick: barely trained networks, a smoke test only" if args.quick else ""),
                rec, table, "NME per region of the 320-landmark networks (%):\n", by_region)
    if dist:
        plot_cumulative({(k if k == "mean face" else f"{k.split('_')[0]} landmarks (CNN)"): v for k, v in dist.items()},
                        RESULTS / f"{name}.png",
                        "Landmark count, trained CNNs (CPU scale)")
    print(table + "\n" + by_region)


if __name__ == "__main__":
    main()
