"""The face finder's fallback on real photos: when the network confirms none of the detector's boxes,
take the boxes it is unsure of (before session 59), or the more certain of those and the full search's
face (session 59), judging those boxes at quarter turns too (session 59, the default since)?  And
re-framing crops at the eye line's roll only as far as the eyes are apart (session 62, the default since)
against at the eye line's roll always ("eye_roll_always")?

    python experiments/face_finder_ab.py --variants boxes_first,compare_search   # shipped real-time and offline
    python experiments/face_finder_ab.py --models offline,~/.cache/dlm/soups/x.npz --threshold -2.99
    python experiments/face_finder_ab.py --variants compare_search,turns \\
        --json experiments/results/face_finder_turns.json
    python experiments/face_finder_ab.py --variants eye_roll_always,turns --models offline,realtime \\
        --json experiments/results/face_finder_eye_roll.json

`roi.find_faces` judges the detector's boxes with the network's calibrated face / no-face threshold;
when none passes (profiles score like background patches on real photos) it takes the boxes again with
no threshold and searches the whole image only when that too finds nothing ("boxes_first").  On the
dev photos some of those unsure boxes give a wrong reading of a face the full search frames well
(session 58: image00204, 19 degrees of yaw, the box's face at 36.6% NME and score -3.05, the search's
at 4.9% and -4.19).  "compare_search" (`find_faces(compare_search=True)`) runs the full search in that
case too and keeps the more certain face; "turns" judges those unsure boxes at four quarter turns of
their crop as well (`find_faces(turns=...)`, for faces rolled past what the network was trained on).
Each model is scored on `../shared/real/aflw2000_dev` (its own face finding, AFLW2000-3D protocol, ICT's
68 points untranslated, one pass) and the other labelled photos: faces found (NME under 50%: `ship_weights.GROSS_NME`), balanced NME over the dev photos both
variants found, the photos where the variants differ, and the time per photo.  A candidate's weights
(`.npz`) have no calibrated threshold until they ship: `--threshold` gives it.  Records config, git
revision and results in experiments/results/face_finder_ab.{json,md}.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
HERE = Path(__file__).resolve().parent

# name -> find_faces' options.  "turns": the unsure boxes judged at four quarter turns as well (rolled faces).
# eye_roll_ratio: roi.EYE_ROLL_RATIO for the variant; "eye_roll_always" re-frames every crop at its eye
# line's roll whatever the yaw (before session 62: profiles' eye lines turned their crops at random).
VARIANTS = {"boxes_first": dict(compare_search=False, turns=(0.0,)),
            "compare_search": dict(compare_search=True, turns=(0.0,)),
            "turns": dict(compare_search=True, turns=(0.0, 90.0, 180.0, 270.0)),
            "eye_roll_always": dict(compare_search=True, turns=(0.0, 90.0, 180.0, 270.0), eye_roll_ratio=(0.0, 1e-12))}


def own_nme(image, gt, pred, detector, options):
    """NME of the face find_faces(**options) returns (None: no face), and the seconds it took."""
    from dlm.eval import aflw2000
    from dlm.product import roi as roi_lib
    options = dict(options)
    saved = roi_lib.EYE_ROLL_RATIO
    roi_lib.EYE_ROLL_RATIO = tuple(options.pop("eye_roll_ratio", saved))
    try:
        t0 = time.perf_counter()
        dets = roi_lib.find_faces(image, pred, detector, max_faces=1, **options)
        seconds = time.perf_counter() - t0
    finally:
        roi_lib.EYE_ROLL_RATIO = saved
    return (float(aflw2000.nme(np.asarray(dets[0].mu, np.float64)[:68], gt)) if dets else None), seconds


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="realtime,offline",
                    help="comma-separated shipped names or weights files (default: realtime,offline)")
    ap.add_argument("--threshold", type=float, default=None,
                    help="the face / no-face score threshold for weights files without one in their manifest")
    ap.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated, of: " + ", ".join(VARIANTS))
    ap.add_argument("--real", default=None, help="the labelled-photo folder (default: ../shared/real)")
    ap.add_argument("--json", default=str(HERE / "results" / "face_finder_ab.json"))
    args = ap.parse_args(argv)
    names = [n for n in args.variants.split(",") if n]
    bad = [n for n in names if n not in VARIANTS]
    if bad or len(names) < 2:
        print(f"face_finder_ab: give two or more variants of {', '.join(VARIANTS)} (unknown: {', '.join(bad) or '-'})",
              file=sys.stderr)
        return 2
    from common import labelled_photos
    from ship_weights import GROSS_NME
    from dlm.eval import aflw2000
    from dlm.io.files import write_json, write_text
    from dlm.io.provenance import environment
    from dlm.landmarks import predictor as lmk
    from dlm.product import detector as detector_lib
    models = [m for m in args.models.split(",") if m]
    preds = {}
    for m in models:
        if m.endswith(".npz"):
            path = Path(m).expanduser()
            if not path.is_file():
                print(f"face_finder_ab: {path}: no such weights file", file=sys.stderr)
                return 2
            preds[m] = lmk.Predictor.load(str(path))
            if "roi_threshold" not in preds[m].manifest:
                if args.threshold is None:
                    print(f"face_finder_ab: {path}: no roi_threshold in its manifest; give --threshold", file=sys.stderr)
                    return 2
                preds[m].manifest["roi_threshold"] = args.threshold
        elif m in ("realtime", "offline"):
            preds[m] = lmk.shipped(m)
        else:
            print(f"face_finder_ab: {m!r} is neither a shipped network (realtime, offline) nor a .npz", file=sys.stderr)
            return 2
    photos = labelled_photos("face_finder_ab", args.real)
    if photos is None:
        return 2
    real, dev, others, images = photos
    detector = detector_lib.default_detector()
    results = {}
    for m, pred in preds.items():
        per = {v: {} for v in names}
        secs = {v: [] for v in names}
        other = {v: [] for v in names}
        for name, path, gt, yaw in dev:
            for v in names:
                e, s = own_nme(images[path], gt, pred, detector, VARIANTS[v])
                per[v][name] = (e, yaw)
                secs[v].append(s)
        for row in others:
            for v in names:
                other[v].append(own_nme(images[row[2]], row[3], pred, detector, VARIANTS[v])[0])
        found = {v: {k for k, (e, _) in per[v].items() if e is not None and e < GROSS_NME} for v in names}
        both = set.intersection(*found.values())
        r = dict(threshold=pred.manifest.get("roi_threshold"), weights_sha256=pred.manifest.get("sha256"),
                 paired_photos=len(both), variants={})
        for v in names:
            paired = [dict(image=k, yaw_deg=per[v][k][1], nme=per[v][k][0], nme_inner51=np.nan) for k in sorted(both)]
            s = aflw2000.scores(paired)
            o = [e for e in other[v] if e is not None and e < GROSS_NME]
            r["variants"][v] = dict(found=len(found[v]), of=len(dev), nme_balanced_paired=s["nme_balanced"],
                                    yaw_bins_paired={k: b["nme"] for k, b in s["yaw_bins"].items()},
                                    others_found=len(o), others_of=len(others),
                                    others_nme_mean=float(np.mean(o)) if o else None,
                                    median_s_per_photo=float(np.median(secs[v])), max_s_per_photo=float(np.max(secs[v])),
                                    per_photo={k: e for k, (e, _) in per[v].items()})
        pp = [r["variants"][v]["per_photo"] for v in names]
        r["differ"] = {k: dict(zip(names, (x[k] for x in pp))) for k in pp[0] if len({x[k] for x in pp}) > 1}
        results[m] = r
        print(m, {v: (x["found"], round(100 * x["nme_balanced_paired"], 2), round(100 * (x["others_nme_mean"] or 0), 2))
                  for v, x in r["variants"].items()}, "differ", r["differ"], flush=True)
    write_json(args.json, dict(experiment="face_finder_ab", models=models, variants={v: VARIANTS[v] for v in names},
                               real=str(real), gross_nme=GROSS_NME, environment=environment(), results=results,
                               command="python experiments/face_finder_ab.py " + " ".join(argv or sys.argv[1:])))
    rows = ["| model | variant | dev faces found | dev balanced, paired | others found | others mean NME | "
            "median s / photo |", "|---|---|---|---|---|---|---|"]
    for m, r in results.items():
        for v, x in r["variants"].items():
            on = "-" if x["others_nme_mean"] is None else f"{100 * x['others_nme_mean']:.2f}%"
            rows.append(f"| {m} | {v} | {x['found']} / {x['of']} | {100 * x['nme_balanced_paired']:.2f}% "
                        f"({r['paired_photos']}) | {x['others_found']} / {x['others_of']} | {on} | "
                        f"{x['median_s_per_photo']:.3f} |")
    diffs = [f"- {m}: " + ", ".join(f"{k} " + " -> ".join("none" if e is None else f"{100 * e:.1f}%" for e in d.values())
                                    for k, d in sorted(r["differ"].items())) for m, r in results.items() if r["differ"]]
    write_text(Path(args.json).with_suffix(".md"),
               "The face finder's fallback when the network confirms none of the detector's boxes "
               "(`find_faces` options: " + "; ".join(f"{v} {VARIANTS[v]}" for v in names) + "), own face finding, ICT's 68 points untranslated, one pass; a face "
               f"counts as found under {100 * GROSS_NME:.0f}% NME. Command: `python experiments/face_finder_ab.py "
               + " ".join(argv or sys.argv[1:]) + "`.\n\n" + "\n".join(rows) + "\n\nPhotos where the variants differ "
               f"({' -> '.join(names)}):\n\n" + ("\n".join(diffs) or "- none") + "\n")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
