"""The domain gap at a glance (issue 21): real photos next to what the network trains on, at the
same crop, written to docs/synth_vs_real.jpg.

    python experiments/figures_gap.py

Row 1: eight AFLW2000-3D dev photos (../shared/real/aflw2000_dev, evenly spaced in yaw), each cut
by the ground-truth ROI that evaluation uses (`dlm.eval.aflw2000.roi_from_box`); the rows below:
training draws at 128 px, exactly as `dlm train` draws them (crop jitter, mirror, photometric
chain), from each realism probe's pool and augmentation (experiments/realism_probe.py), labelled
on the left.  Pools missing from the cache folder are left out.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from dlm.eval import aflw2000  # noqa: E402
from dlm.io.images import write_image  # noqa: E402
from dlm.io.provenance import cache_relative, shared_real_path  # noqa: E402
from dlm.product import roi as roi_lib  # noqa: E402
from dlm.synth import augment  # noqa: E402
from dlm.synth import pool as pool_lib  # noqa: E402

SIZE = 128
LABEL_W = 150
# (label, pool folder, AugmentRanges overrides)
ROWS = [
    ("procedural light", "pools/pool160_24k", {}),
    ("camera steps", "pools/pool160_24k", augment.CAMERA),
    ("skin detail", "pools/pool160_24k_skin", {}),
    ("HDRI light (50%)", "pools/pool160_24k_env", {}),
    ("HDRI + camera", "pools/pool160_24k_env", augment.CAMERA),
    ("HDRI + hair", "pools/pool160_24k_env_hair", {}),
]


def real_row(dev: str, count: int) -> list:
    items = sorted(aflw2000.read_aflw2000(dev), key=lambda it: abs(it[3]))
    picks = [items[int(round(i))] for i in np.linspace(0, len(items) - 1, count)]
    tiles = []
    for _, path, gt, _ in picks:
        image = cv2.imread(path, cv2.IMREAD_COLOR)[..., ::-1]
        tiles.append(roi_lib.crop(image, aflw2000.roi_from_box(gt.min(0), gt.max(0)), SIZE))
    return tiles


def draw_row(folder: str, overrides: dict, count: int, seed: int) -> list | None:
    path = cache_relative(folder)
    if not os.path.isdir(path):
        return None
    pool = pool_lib.load_pool(path, "68")
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
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--dev", default=None, help="AFLW2000-3D dev folder (default ../shared/real/aflw2000_dev)")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "docs" / "synth_vs_real.jpg"))
    args = ap.parse_args(argv)
    dev = args.dev or shared_real_path("aflw2000_dev")
    if not os.path.isdir(dev):
        print(f"figures_gap: {dev}: not a folder (the real dev photos)", file=sys.stderr)
        return 2
    rows = [labelled("real photos\n(AFLW2000-3D dev)", real_row(dev, args.count))]
    for label, folder, overrides in ROWS:
        tiles = draw_row(folder, overrides, args.count, args.seed)
        if tiles is not None:
            rows.append(labelled(label, tiles))
    write_image(args.out, np.concatenate(rows, 0))
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
