"""Calibrate the face / no-face threshold of a landmark model's ROI score (mean log sigma / side).

    python experiments/calibrate_roi.py --model realtime --write-manifest

Scores N synthetic faces framed as in training (seed 2_000_003, augmentation on) and N crops with
no face (the synthetic engine's backgrounds: random affine crops of scikit-image's photographs and
procedural patterns, seed 3_000_017), picks the threshold with the best balanced accuracy, and
writes experiments/results/<model>/roi_calibration.json (config, seed, git revision, rates,
score quantiles).  --write-manifest stores the threshold as `roi_threshold` in the model's
manifest, where `dlm.product.roi.search` and the tracker read it.  A few minutes on a 2-core CPU.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def scores_of(pred, images: np.ndarray, batch: int = 32) -> np.ndarray:
    out = []
    for i in range(0, len(images), batch):
        _, sigma = pred(images[i:i + batch])
        out.append(np.mean(np.log(np.asarray(sigma) / pred.size), axis=1))
    return np.concatenate(out)


def background_crops(num: int, size: int, seed: int) -> np.ndarray:
    import jax
    import jax.numpy as jnp
    from dlm.core import facemodel as fm
    from dlm.synth import render as synth
    assets = synth.make_assets(fm.load_face_model())
    keys = jax.random.split(jax.random.key(seed), num)
    fn = jax.jit(jax.vmap(lambda k: synth.sample_background(k, size, assets.backgrounds) ** (1 / 2.2)))
    return np.asarray(jnp.round(jnp.clip(fn(keys), 0, 1) * 255)).astype(np.uint8)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="realtime")
    ap.add_argument("--num", type=int, default=256)
    ap.add_argument("--write-manifest", action="store_true")
    args = ap.parse_args(argv)
    from dlm.landmarks import predictor as lmk
    from dlm.synth import render as synth
    from dlm.io.provenance import git_revision
    from dlm.io.files import write_json
    shipped = "/" not in args.model and not args.model.endswith(".npz")
    name = lmk.SHIPPED[lmk.resolve_shipped(args.model)] if shipped else Path(args.model).stem
    pred = lmk.Predictor.load(name if shipped else args.model)
    face_seed, bg_seed = 2_000_003, 3_000_017
    stream = synth.batches(face_seed, 32, pred.size, pred.landmark_set)
    faces = np.concatenate([next(stream)["image"] for _ in range((args.num + 31) // 32)])[:args.num]
    stream.close()
    s_face = scores_of(pred, faces)
    s_bg = scores_of(pred, background_crops(args.num, pred.size, bg_seed))
    cands = np.sort(np.concatenate([s_face, s_bg]))
    bal = [(np.mean(s_face < t) + np.mean(s_bg >= t)) / 2 for t in cands]
    best = int(np.argmax(bal))
    # Midway to the next score, so the threshold is not exactly one sample's score.
    thr = float((cands[best] + cands[min(best + 1, len(cands) - 1)]) / 2)
    q = [0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99]
    res = dict(experiment="calibrate_roi", model=name, git_revision=git_revision(), num=args.num,
               face_seed=face_seed, background_seed=bg_seed, threshold=thr,
               face_accepted=float(np.mean(s_face < thr)), background_rejected=float(np.mean(s_bg >= thr)),
               balanced_accuracy=float(bal[best]),
               face_score_quantiles=dict(zip(map(str, q), np.quantile(s_face, q).round(4).tolist())),
               background_score_quantiles=dict(zip(map(str, q), np.quantile(s_bg, q).round(4).tolist())))
    out = Path(__file__).resolve().parent / "results" / name / "roi_calibration.json"
    write_json(out, res)
    print(json.dumps({k: res[k] for k in ("threshold", "face_accepted", "background_rejected")}))
    if args.write_manifest:
        mpath = (lmk.WEIGHTS_DIR / f"{name}.json") if shipped else Path(args.model).with_suffix(".json")
        manifest = json.loads(mpath.read_text())
        manifest["roi_threshold"] = thr
        manifest["roi_calibration"] = {k: res[k] for k in ("face_accepted", "background_rejected", "num",
                                                           "face_seed", "background_seed", "git_revision")}
        write_json(mpath, manifest)
        print(f"wrote roi_threshold {thr:.4f} into {mpath}")


if __name__ == "__main__":
    main()
