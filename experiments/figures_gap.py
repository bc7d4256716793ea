"""The domain gap at a glance (issue 21): real photos next to what the network trains on, at the
same crop, written to docs/synth_vs_real.jpg.

    python experiments/figures_gap.py

Row 1: eight AFLW2000-3D dev photos (../shared/real/aflw2000_dev, evenly spaced in yaw), each cut
by the ground-truth ROI that evaluation uses (`dlm.eval.aflw2000.roi_from_box`); the rows below:
training draws at 128 px, exactly as `dlm train` draws them (crop jitter, mirror, photometric
chain), from each realism probe's render settings and augmentation (experiments/realism_finetune.py)
and the campaigns' latest pool, labelled on the left.  Each row's samples are rendered here into a
small pool of the same settings (`dlm.synth.pool.write_pool`: samples 0.. of --render-seed, the
first samples of a pool of that seed), so the sheet needs no cached pool; the rows show the same
heads wherever a switch leaves a head's draws alone (each switch draws from its own random stream).
One renderer compilation per distinct render setting (rows that differ in augmentation alone share
their renders): ~5-10 minutes on a 2-core CPU.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from dlm.eval import aflw2000  # noqa: E402
from dlm.io.images import write_image  # noqa: E402
from dlm.io.provenance import shared_real_path  # noqa: E402
from dlm.product import roi as roi_lib  # noqa: E402
from dlm.synth import augment  # noqa: E402
from dlm.synth import pool as pool_lib  # noqa: E402
from dlm.synth import render as synth  # noqa: E402

SIZE = 128
LABEL_W = 150
HDRI = dict(env_prob=0.5)
# (label, render settings: env_prob and realism switches, AugmentRanges overrides)
ROWS = [
    ("procedural light", dict(env_prob=0.0), {}),
    ("procedural light,\nnatural colours", dict(env_prob=0.0, natural_light=True), {}),
    ("natural colours,\ncolour gain 0.04", dict(env_prob=0.0, natural_light=True), dict(max_gain=0.04)),
    ("camera steps", dict(env_prob=0.0), augment.CAMERA),
    ("skin detail", dict(env_prob=0.0, skin_detail=True), {}),
    ("HDRI light (50%)", HDRI, {}),
    ("HDRI + camera", HDRI, augment.CAMERA),
    ("HDRI + hair", dict(HDRI, hair_volume=True, long_hair=True), {}),
    ("HDRI + eyelashes", dict(HDRI, eyelashes=True), {}),
    ("HDRI + shoulders", dict(HDRI, shoulders=True), {}),
    ("HDRI + beards\nwith volume", dict(HDRI, beard_volume=True), {}),
    ("HDRI + cast\nshadows", dict(HDRI, cast_shadows=True), {}),
    ("campaign pool\n(real10s: all on)", dict(HDRI, skin_detail=True, hair_volume=True, long_hair=True,
                                              eyelashes=True, shoulders=True, beard_volume=True,
                                              natural_light=True, cast_shadows=True), dict(max_gain=0.04, grayscale_prob=0.16)),
]


def real_row(dev: str, count: int) -> list:
    items = sorted(aflw2000.read_aflw2000(dev), key=lambda it: abs(it[3]))
    picks = [items[int(round(i))] for i in np.linspace(0, len(items) - 1, count)]
    tiles = []
    for _, path, gt, _ in picks:
        image = cv2.imread(path, cv2.IMREAD_COLOR)[..., ::-1]
        tiles.append(roi_lib.crop(image, aflw2000.roi_from_box(gt.min(0), gt.max(0)), SIZE))
    return tiles


def draw_row(render: dict, overrides: dict, count: int, seed: int, render_seed: int, tmp: str) -> list:
    """`count` training draws from a pool of `render` settings, rendered here into `tmp` (samples
    0.. of render_seed at 160 px, crop scale 0.8, as the campaigns' pools) unless a row before
    rendered the same settings."""
    folder = os.path.join(tmp, json.dumps(render, sort_keys=True).translate(str.maketrans('{}": ,', "______")))
    if not os.path.isdir(folder):
        num = -(-count // synth.WRITE_CHUNK) * synth.WRITE_CHUNK
        pool_lib.write_pool(folder, num, size=160, seed=render_seed, crop_scale=0.8, workers=1, **render)
    pool = pool_lib.load_pool(folder, "68")
    b = pool_lib.pool_batch(pool, seed, 0, count, SIZE, photometric=augment.AugmentRanges(**overrides))
    return list(b["image"])


def labelled(label: str, tiles: list) -> np.ndarray:
    strip = np.full((SIZE, LABEL_W, 3), 255, np.uint8)
    for k, line in enumerate(label.split("\n")):
        cv2.putText(strip, line, (6, 56 + 20 * k), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([strip] + [np.asarray(t, np.uint8) for t in tiles], 1)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=8)
    ap.add_argument("--seed", type=int, default=3, help="training draws' seed (crop jitter, mirror, photometric)")
    ap.add_argument("--render-seed", type=int, default=0, help="the renders' seed (the probes' pools: 0)")
    ap.add_argument("--dev", default=None, help="AFLW2000-3D dev folder (default ../shared/real/aflw2000_dev)")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "docs" / "synth_vs_real.jpg"))
    args = ap.parse_args(argv)
    dev = args.dev or shared_real_path("aflw2000_dev")
    if not os.path.isdir(dev):
        print(f"figures_gap: {dev}: not a folder (the real dev photos)", file=sys.stderr)
        return 2
    rows = [labelled("real photos\n(AFLW2000-3D dev)", real_row(dev, args.count))]
    with tempfile.TemporaryDirectory(prefix="figures-gap-") as tmp:
        for label, render, overrides in ROWS:
            rows.append(labelled(label, draw_row(render, overrides, args.count, args.seed, args.render_seed, tmp)))
            print(label.replace("\n", " "), flush=True)
    write_image(args.out, np.concatenate(rows, 0))
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
