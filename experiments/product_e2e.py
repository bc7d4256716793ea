"""End-to-end accuracy of `dlm.reconstruct` on rendered faces with known ground truth.

    python experiments/product_e2e.py --model realtime --num 12

Each scene: a face rendered by the synthetic engine (seed 100 + i; yaw within +-30, pitch +-15,
roll +-10 degrees, focal 3-8 x the crop, no augmentation), 256 px, pasted into a 480 x 360 grey
canvas at (112, 52).  The full pipeline runs on the canvas (ROI search, landmarks, offline fit).
Reported per scene and as medians: the 320-landmark error over the ground-truth landmark box, the
posed-mesh error on the face region after a similarity alignment (mm), and the same for the
neutral (identity-only) mesh next to the mean face's.  Writes
experiments/results/product_e2e_<model>.json (config, seeds, git revision).  ~1 minute per scene
on a 2-core CPU after the first (compilation).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def procrustes_mm(a: np.ndarray, b: np.ndarray) -> float:
    """Mean distance (mm) of a (N, 3) cm after the best similarity transform onto b."""
    from dlm.eval.metrics3d import procrustes_distances
    return 10 * float(procrustes_distances(a, b).mean())


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="realtime")
    ap.add_argument("--num", type=int, default=12)
    args = ap.parse_args(argv)
    import jax
    import jax.numpy as jnp
    from dlm.core import facemodel as fm
    from dlm.core import geometry
    from dlm.landmarks import predictor as lmk
    from dlm.product import pipeline
    from dlm.synth import scenes
    from dlm.synth import render as synth
    from dlm.io.provenance import git_revision
    from dlm.io.files import write_json
    m = fm.load_face_model()
    assets = synth.make_assets(m)
    pred = lmk.shipped(args.model)
    ids = jnp.asarray(m.landmarks[pred.landmark_set])
    ranges = scenes.SceneRanges(max_yaw=np.radians(30), max_pitch=np.radians(15), max_roll=np.radians(10),
                                min_focal_factor=3.0)
    render = jax.jit(lambda k: synth.render_sample(k, m, assets, 256, ids, ranges, None))
    face = np.nonzero(np.asarray(m.vertex_part) == 0)[0]
    rows = []
    for i in range(args.num):
        b = render(jax.random.key(100 + i))
        img = (np.clip(np.asarray(b.image), 0, 1) * 255).round().astype(np.uint8)
        canvas = np.full((360, 480, 3), 90, np.uint8)
        canvas[52:308, 112:368] = img
        gt_lm = np.asarray(b.landmarks) + [112, 52]
        gt_v = np.asarray(geometry.world_to_camera(fm.vertices(m, b.params), b.camera.rotation, b.camera.translation))
        gt_neutral = np.asarray(fm.bind_pose(m, b.params.identity, jnp.zeros(m.num_expression)))
        t0 = time.perf_counter()
        try:
            r = pipeline.reconstruct(canvas, pred, m)
        except pipeline.NoFaceError:
            rows.append(dict(seed=100 + i, found=False))
            continue
        dt = time.perf_counter() - t0
        fit_neutral = np.asarray(fm.bind_pose(m, jnp.asarray(r.params.identity), jnp.zeros(m.num_expression)))
        rows.append(dict(
            seed=100 + i, found=True, seconds=dt,
            landmark_error=float(np.linalg.norm(r.landmarks - gt_lm, axis=1).mean() / np.ptp(gt_lm, axis=0).max()),
            posed_mesh_mm=procrustes_mm(r.vertices[face], gt_v[face]),
            neutral_mesh_mm=procrustes_mm(fit_neutral[face], gt_neutral[face]),
            mean_face_neutral_mm=procrustes_mm(np.asarray(m.template)[face], gt_neutral[face])))
        print(rows[-1], flush=True)
    found = [r for r in rows if r["found"]]
    med = lambda k: float(np.median([r[k] for r in found])) if found else None  # noqa: E731
    res = dict(experiment="product_e2e", model=pred.manifest.get("weights_file"), git_revision=git_revision(),
               seeds=[100 + i for i in range(args.num)], found=len(found), num=args.num,
               median_landmark_error=med("landmark_error"), max_landmark_error=max(r["landmark_error"] for r in found),
               median_posed_mesh_mm=med("posed_mesh_mm"), max_posed_mesh_mm=max(r["posed_mesh_mm"] for r in found),
               median_neutral_mesh_mm=med("neutral_mesh_mm"), median_mean_face_neutral_mm=med("mean_face_neutral_mm"),
               per_scene=rows)
    name = (pred.manifest.get("weights_file") or args.model).replace(".npz", "")
    write_json(Path(__file__).resolve().parent / "results" / f"product_e2e_{name}.json", res)
    print({k: v for k, v in res.items() if k != "per_scene"})


if __name__ == "__main__":
    main()
