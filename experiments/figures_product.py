"""docs/reconstruct_synthetic.jpg: `dlm.reconstruct` on rendered faces (input | overlay).

    python experiments/figures_product.py

Scenes as in experiments/product_e2e.py (seeds 100-103), the shipped real-time model, the offline
fit.  Rendered faces only: the real photographs under ../shared/real may not be redistributed.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main():
    import cv2
    import jax
    import jax.numpy as jnp
    from dlm.core import facemodel as fm
    from dlm.product import outputs
    from dlm.product import pipeline
    from dlm.synth import scenes
    from dlm.synth import render as synth
    m = fm.load_face_model()
    assets = synth.make_assets(m)
    ids = jnp.asarray(m.landmarks["320"])
    ranges = scenes.SceneRanges(max_yaw=np.radians(30), max_pitch=np.radians(15), max_roll=np.radians(10),
                                min_focal_factor=3.0)
    render = jax.jit(lambda k: synth.render_sample(k, m, assets, 256, ids, ranges, None))
    rows = []
    for seed in range(100, 104):
        img = (np.clip(np.asarray(render(jax.random.key(seed)).image), 0, 1) * 255).round().astype(np.uint8)
        res = pipeline.reconstruct(img, "realtime", m)
        ov = outputs.draw_overlay(img, res.vertices, res.camera, outputs.overlay_faces(m), res.landmarks, res.sigma)
        rows.append(np.concatenate([img, ov], 1))
    sheet = np.concatenate([np.concatenate(rows[:2], 1), np.concatenate(rows[2:], 1)], 0)
    out = Path(__file__).resolve().parents[1] / "docs" / "reconstruct_synthetic.jpg"
    cv2.imwrite(str(out), sheet[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 88])
    print(out)


if __name__ == "__main__":
    main()
