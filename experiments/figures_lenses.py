"""Glasses in photos and in renders (issue 21), written to docs/synth_lenses.jpg.

    python experiments/figures_lenses.py

Rows 1-2: the AFLW2000-3D dev photos whose faces wear sunglasses, then clear glasses (picked by eye,
session 55), each cut by the ground-truth ROI that evaluation uses (`dlm.eval.aflw2000.roi_from_box`).
Rows 3-4: renders with the campaigns' switches and `lenses` on (`dlm.synth.render.glass_lenses`): the
glasses wearers among the first --scan samples of --seed, found by rendering them with lenses on and
off (one compiled renderer: the switch is a value) and keeping those whose pixels changed, shown as
a pool stores them (no photometric augmentation; training adds its own and its crop).  ~2 minutes on a
2-core CPU.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import jax.numpy as jnp  # noqa: E402

import dlm  # noqa: E402
from dlm.eval import aflw2000  # noqa: E402
from dlm.io.images import write_image  # noqa: E402
from dlm.io.provenance import shared_real_path  # noqa: E402
from dlm.product import roi as roi_lib  # noqa: E402
from dlm.synth import render as synth  # noqa: E402

SIZE = 128
SUNGLASSES = ["image00491.jpg", "image01238.jpg", "image01504.jpg", "image01852.jpg", "image01878.jpg",
              "image02121.jpg", "image02540.jpg", "image04225.jpg"]
CLEAR = ["image00290.jpg", "image00841.jpg", "image01108.jpg", "image01282.jpg", "image01288.jpg",
         "image02832.jpg", "image03873.jpg", "image04294.jpg"]
SWITCHES = dict(skin_detail=True, hair_volume=True, long_hair=True, eyelashes=True, shoulders=True,
                beard_volume=True, natural_light=True)


def photo_row(dev: str, names: list) -> list:
    by_name = {os.path.basename(path): (path, gt) for _, path, gt, _ in aflw2000.read_aflw2000(dev)}
    tiles = []
    for name in names:
        path, gt = by_name[name]
        image = cv2.imread(path, cv2.IMREAD_COLOR)[..., ::-1]
        tiles.append(roi_lib.crop(image, aflw2000.roi_from_box(gt.min(0), gt.max(0)), SIZE))
    return tiles


def lens_renders(seed: int, scan: int, count: int) -> list:
    model = dlm.load_face_model()
    ids = jnp.asarray(model.landmarks["68"])
    on = synth.make_assets(model, env_prob=0.5, lenses=True, **SWITCHES)
    off = on._replace(lenses=jnp.zeros((), jnp.float32))
    tiles = []
    for start in range(0, scan, 16):
        keys = synth.batch_keys(seed, start, 16)
        a = np.asarray(synth.render_batch(keys, model, on, ids, SIZE, augment=False).image)
        b = np.asarray(synth.render_batch(keys, model, off, ids, SIZE, augment=False).image)
        changed = np.abs(a - b).reshape(len(a), -1).max(1) > 0.02
        tiles += [np.round(np.clip(im, 0, 1) * 255).astype(np.uint8) for im in a[changed]]
        if len(tiles) >= count:
            break
    return tiles[:count]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=10, help="the renders' seed (pool160_48k_real10L's: 10)")
    ap.add_argument("--scan", type=int, default=256, help="samples looked through for glasses wearers")
    ap.add_argument("--dev", default=None, help="AFLW2000-3D dev folder (default ../shared/real/aflw2000_dev)")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "docs" / "synth_lenses.jpg"))
    args = ap.parse_args(argv)
    dev = args.dev or shared_real_path("aflw2000_dev")
    if not os.path.isdir(dev):
        print(f"figures_lenses: {dev}: not a folder (the real dev photos)", file=sys.stderr)
        return 2
    renders = lens_renders(args.seed, args.scan, 16)
    if len(renders) < 16:
        print(f"figures_lenses: only {len(renders)} glasses wearers in {args.scan} samples; raise --scan", file=sys.stderr)
        return 1
    rows = [photo_row(dev, SUNGLASSES), photo_row(dev, CLEAR), renders[:8], renders[8:]]
    write_image(args.out, np.concatenate([np.concatenate(r, 1) for r in rows], 0))
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
