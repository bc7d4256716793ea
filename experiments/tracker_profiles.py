"""The tracker on profiles: each AFLW2000-3D dev photo past 60 degrees of yaw given to a fresh tracker as a
still clip of `--frames` frames, with the crop's roll re-framed as far as the eyes are apart (session 62,
`roi.EYE_ROLL_RATIO`) and at the eye line's roll always (before; "eye_roll_always").

    python experiments/tracker_profiles.py      # ~5 minutes on a 2-core CPU, both variants

A still clip isolates what re-framing does: the face does not move, so a crop that turns or drifts from
frame to frame is the tracker's own doing (on a profile the two eyes nearly coincide and their line points
anywhere).  Per variant: photos with landmarks on the last frame, their mean NME (ICT's 68 points
untranslated, AFLW2000-3D normalisation) on the photos both variants hold, frames without landmarks, and
the mean frame-to-frame change of the crop's roll.  Shipped real-time network, identity refits off.
Writes experiments/results/tracker_profiles.{json,md}.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

# name -> roi.EYE_ROLL_RATIO for the run (None: the library's default).
VARIANTS = {"eye_roll_always": (0.0, 1e-12), "eye_roll_gated": None}


def track_still(image, gt, pred, frames: int):
    """NME (None: no landmarks) and crop roll (degrees, None) of each frame of a still clip."""
    from dlm.eval import aflw2000
    from dlm.product import pipeline
    tracker = pipeline.Tracker((image.shape[1], image.shape[0]), pred, refit_every=0)
    nmes, rolls = [], []
    for _ in range(frames):
        f = tracker(image)
        have = f.landmarks is not None
        nmes.append(float(aflw2000.nme(np.asarray(f.landmarks, np.float64)[:68], gt)) if have else None)
        rolls.append(float(np.degrees(f.roi.angle)) if have and f.roi is not None else None)
    return nmes, rolls


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=12)
    ap.add_argument("--min-yaw", type=float, default=60.0)
    ap.add_argument("--real", default=None, help="the labelled-photo folder (default: ../shared/real)")
    ap.add_argument("--json", default=None, help="default experiments/results/tracker_profiles.json")
    args = ap.parse_args(argv)
    started = time.time()
    import common
    from dlm.io.files import write_text
    from dlm.landmarks import predictor as lmk
    from dlm.product import roi as roi_lib
    photos = common.labelled_photos("tracker_profiles", args.real)
    if photos is None:
        return 2
    pred = lmk.shipped("realtime")
    rows = [d for d in photos.dev if abs(d[3]) >= args.min_yaw]
    per = {}
    default = roi_lib.EYE_ROLL_RATIO
    for v, ratio in VARIANTS.items():
        roi_lib.EYE_ROLL_RATIO = default if ratio is None else ratio
        try:
            per[v] = {name: track_still(photos.images[path], gt, pred, args.frames) for name, path, gt, _ in rows}
        finally:
            roi_lib.EYE_ROLL_RATIO = default
    held = [n for n, *_ in rows if all(per[v][n][0][-1] is not None for v in VARIANTS)]
    results = {"photos": len(rows), "paired": len(held), "variants": {}}
    for v in VARIANTS:
        spin = [np.mean(np.abs(np.diff(r))) for r in ([x for x in per[v][n][1] if x is not None] for n in per[v])
                if len(r) > 1]
        results["variants"][v] = dict(
            held_at_end=sum(per[v][n][0][-1] is not None for n in per[v]),
            last_frame_nme_paired=float(np.mean([per[v][n][0][-1] for n in held])) if held else None,
            frames_without_landmarks=sum(x is None for n in per[v] for x in per[v][n][0]),
            roll_change_deg_mean=float(np.mean(spin)) if spin else None,
            per_photo={n: dict(nme=per[v][n][0], roll_deg=per[v][n][1]) for n in per[v]})
        print(v, {k: x for k, x in results["variants"][v].items() if k != "per_photo"}, flush=True)
    rec = common.record("tracker_profiles", vars(args), results, out=args.json, started=started)
    rows_md = ["| variant | photos held on the last frame | last-frame NME (paired) | frames without landmarks | "
               "crop roll change per frame |", "|---|---|---|---|---|"]
    for v, x in results["variants"].items():
        nme = "-" if x["last_frame_nme_paired"] is None else f"{100 * x['last_frame_nme_paired']:.2f}% ({len(held)})"
        rows_md.append(f"| {v} | {x['held_at_end']} / {len(rows)} | {nme} | {x['frames_without_landmarks']} / "
                       f"{len(rows) * args.frames} | {x['roll_change_deg_mean']:.1f} degrees |")
    write_text(Path(args.json).with_suffix(".md") if args.json else common.RESULTS / "tracker_profiles.md",
               f"The tracker on still clips of the dev profiles (|yaw| >= {args.min_yaw:g} degrees, {args.frames} "
               f"frames each, shipped real-time network, ICT's 68 untranslated) (`{rec['command']}`, git "
               f"{rec['git_revision'][:7]})\n\n" + "\n".join(rows_md) + "\n")
    print("\n".join(rows_md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
