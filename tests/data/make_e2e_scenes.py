"""Rebuild tests/data/e2e_scenes.npz, the rendered faces the end-to-end tests reconstruct
(tests/test_product_e2e.py), with their ground truth:

    python tests/data/make_e2e_scenes.py

Scene 0 is seed 102 (mild pose, no augmentation, 256 px render in a 480 x 360 canvas: the scene
whose stated accuracy test_product_e2e's bounds come from, `python experiments/product_e2e.py
--num 10`); scene 1 is the first seed from 200 whose head is turned over 15 degrees (yaw of neck +
head), for the same-person test.  Stored, not rendered in each test run: compiling the renderer
took ~33 s per test process on a 2-core CPU (issue 30), and renderer changes (new realism
switches) must not move the end-to-end tests' inputs.  Rerun this after a change to the face
model asset.

Arrays: image (2, 360, 480, 3) uint8 RGB; landmarks (2, 320, 2) float32 image pixels of the "320"
set; vertices (2, V, 3) float32 cm in camera coordinates; seed (2,) int.
"""
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from dlm.core import facemodel as fm  # noqa: E402
from dlm.core import geometry  # noqa: E402
from dlm.io.files import write_npz_deterministic  # noqa: E402
from dlm.synth import render as synth  # noqa: E402
from dlm.synth import scenes  # noqa: E402

RANGES = scenes.SceneRanges(max_yaw=np.radians(30), max_pitch=np.radians(15), max_roll=np.radians(10),
                            min_focal_factor=3.0)
OFFSET = np.array([112.0, 52.0])      # where the 256 px render sits in the 480 x 360 canvas


def main():
    model = fm.load_face_model()
    assets = synth.make_assets(model)
    ids = jnp.asarray(model.landmarks["320"])
    render = jax.jit(lambda k: synth.render_sample(k, model, assets, 256, ids, RANGES, None))
    turned = next(k for k in range(200, 300) if abs(float(synth.sample_view(
        jax.random.key(k), model, assets, 256, RANGES)[0].joint_rotations[:2, 1].sum())) > np.radians(15))
    out = dict(image=[], landmarks=[], vertices=[], seed=[])
    for seed in (102, turned):
        b = render(jax.random.key(seed))
        img = (np.clip(np.asarray(b.image), 0, 1) * 255).round().astype(np.uint8)
        canvas = np.full((360, 480, 3), 90, np.uint8)
        canvas[52:308, 112:368] = img
        verts = geometry.world_to_camera(fm.vertices(model, b.params), b.camera.rotation, b.camera.translation)
        out["image"].append(canvas)
        out["landmarks"].append(np.asarray(b.landmarks, np.float32) + OFFSET.astype(np.float32))
        out["vertices"].append(np.asarray(verts, np.float32))
        out["seed"].append(seed)
    path = Path(__file__).with_name("e2e_scenes.npz")
    write_npz_deterministic(path, {k: np.stack(v) for k, v in out.items()})
    print(path, "seeds", out["seed"])


if __name__ == "__main__":
    main()
