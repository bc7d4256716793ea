"""Contact sheet of the synthetic training data: 8 x 8 renders with their 703 landmarks drawn
(green: visible, red: hidden), written to docs/synth_contact_sheet.jpg.

    python experiments/figures_synth.py --seed 0 --size 192

Samples 0..63 of `dlm.synth.render.batches(seed)`, exactly as training sees them (augmentation on).
"""
from __future__ import annotations

import argparse
import os

import cv2
import numpy as np

from dlm.synth import render as synth
from dlm.io.files import atomic_path


def contact_sheet(seed: int, size: int, grid: int = 8) -> np.ndarray:
    stream = synth.batches(seed=seed, batch_size=grid, size=size, landmark_set="703", prefetch=1)
    rows = []
    for _ in range(grid):
        b = next(stream)
        tiles = []
        for img, lm, vis in zip(b["image"], b["landmarks"], b["visible"]):
            tile = np.ascontiguousarray(img[..., ::-1])
            for (x, y), v in zip(lm, vis):
                # Sub-pixel centres: cv2 draws at fixed point with 2 fractional bits.
                cv2.circle(tile, (int(round(x * 4 - 2)), int(round(y * 4 - 2))), 3 if v else 2,
                           (60, 230, 60) if v else (40, 40, 230), -1, cv2.LINE_AA, shift=2)
            tiles.append(tile)
        rows.append(np.concatenate(tiles, 1))
    stream.close()
    return np.concatenate(rows, 0)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--size", type=int, default=192)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "docs", "synth_contact_sheet.jpg"))
    args = ap.parse_args()
    sheet = contact_sheet(args.seed, args.size)
    with atomic_path(args.out) as tmp:
        cv2.imwrite(tmp, sheet, [cv2.IMWRITE_JPEG_QUALITY, 88])
    print(f"wrote {args.out} ({sheet.shape[1]} x {sheet.shape[0]})")


if __name__ == "__main__":
    main()
