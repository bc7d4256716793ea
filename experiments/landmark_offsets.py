"""Is part of the real-photo error a convention offset?  Per-point mean signed error on the dev set.

    python experiments/landmark_offsets.py --model realtime     # ~2 min on a 2-core CPU

Where an ICT vertex sits consistently away from where AFLW2000-3D puts its point, the error of that
point has a non-zero mean over photos.  For each of the 68 points: the mean signed error in a face
frame (the image axes turned by the ground truth's eye-corner line, 36 -> 45, so x runs along the
eyes; units of the protocol's normaliser sqrt(w h)), its standard error and t, on near-frontal photos
(|yaw| < 30 degrees, where the image layout of a point does not flip with the pose) and on all.  And
the figure that decides whether it matters: 2-fold cross-validated NME after subtracting each point's
mean offset learnt on the other half (frontal photos), against the uncorrected NME of the same photos.
A drop far above the fold-to-fold noise says the landmark definition (data in `landmark_sets`) should
move; a drop near zero says the error is the network's, not the convention's.
Writes experiments/results/landmark_offsets_<model>.{json,md}.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
HERE = Path(__file__).resolve().parent
REGIONS = [("jaw", 0, 17), ("brows", 17, 27), ("nose", 27, 36), ("eyes", 36, 48), ("mouth", 48, 68)]


def face_frame_errors(recs) -> tuple[np.ndarray, np.ndarray]:
    """(N, 68, 2) signed errors in the face frame over sqrt(w h); (N,) |yaw| degrees."""
    errs, yaws = [], []
    for r in recs:
        p, g = np.asarray(r["points"]), np.asarray(r["gt"])
        d = g[45] - g[36]
        c, s = d / np.linalg.norm(d)
        rot = np.array([[c, s], [-s, c]])        # turns the eye line onto +x
        box = g.max(0) - g.min(0)
        errs.append(((p - g) @ rot.T) / np.sqrt(box[0] * box[1]))
        yaws.append(abs(r["yaw_deg"]))
    return np.asarray(errs), np.asarray(yaws)


def cross_validated(e: np.ndarray, seed: int = 0) -> dict:
    """NME of e (N, 68, 2) before and after subtracting per-point means learnt on the other fold."""
    idx = np.random.default_rng(seed).permutation(len(e))
    folds = [idx[: len(e) // 2], idx[len(e) // 2:]]
    before, after = [], []
    for k in (0, 1):
        test, train = folds[k], folds[1 - k]
        off = e[train].mean(0)
        before.append(np.linalg.norm(e[test], axis=-1).mean(1))
        after.append(np.linalg.norm(e[test] - off, axis=-1).mean(1))
    b, a = np.concatenate(before), np.concatenate(after)
    return dict(nme_before=float(b.mean()), nme_after=float(a.mean()), drop=float(b.mean() - a.mean()),
                drop_se=float(np.std(b - a, ddof=1) / np.sqrt(len(b))), num=int(len(b)))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="realtime", help="a shipped name or a weights .npz")
    ap.add_argument("--dev", default=None, help="AFLW2000-3D folder (default ../shared/real/aflw2000_dev)")
    ap.add_argument("--json", default=None, help="result file (default experiments/results/landmark_offsets_MODEL.json)")
    args = ap.parse_args(argv)
    from dlm.eval import aflw2000
    from dlm.io.files import write_json, write_text
    from dlm.io.provenance import environment, shared_real_path
    from dlm.landmarks import predictor as lmk
    dev = args.dev or shared_real_path("aflw2000_dev")
    if not Path(dev).is_dir():
        print(f"landmark_offsets: {dev}: no such folder", file=sys.stderr)
        return 2
    pred = lmk.shipped(args.model) if not args.model.endswith(".npz") else lmk.Predictor.load(args.model)
    r = aflw2000.eval_aflw2000(dev, pred, roi="gt", keep_points=True)
    e, yaw = face_frame_errors(r["per_image"])
    frontal = yaw < 30
    points = []
    for i in range(68):
        row = dict(point=i)
        for tag, sel in (("frontal", frontal), ("all", np.ones_like(frontal))):
            m, se = e[sel, i].mean(0), e[sel, i].std(0, ddof=1) / np.sqrt(sel.sum())
            row[tag] = dict(mean_x=float(m[0]), mean_y=float(m[1]), t_x=float(m[0] / se[0]), t_y=float(m[1] / se[1]),
                            nme=float(np.linalg.norm(e[sel, i], axis=-1).mean()))
        points.append(row)
    cv = cross_validated(e[frontal])
    regions = {name: dict(offset=float(np.linalg.norm(e[frontal][:, a:b].mean(0), axis=-1).mean()),
                          nme=float(np.linalg.norm(e[frontal][:, a:b], axis=-1).mean())) for name, a, b in REGIONS}
    name = Path(args.model).stem
    res = dict(experiment="landmark_offsets", model=name, weights_sha256=pred.manifest.get("sha256"), dev=dev,
               num_images=len(e), num_frontal=int(frontal.sum()), nme_balanced=r["nme_balanced"],
               cross_validated_frontal=cv, regions_frontal=regions, points=points, environment=environment(),
               command="python experiments/landmark_offsets.py " + " ".join(argv if argv is not None else sys.argv[1:]))
    out = Path(args.json) if args.json else HERE / "results" / f"landmark_offsets_{name}.json"
    write_json(out, res)
    worst = sorted(points, key=lambda p: -np.hypot(p["frontal"]["mean_x"], p["frontal"]["mean_y"]))[:10]
    lines = [f"Per-point mean signed error of `{name}` on {dev} ({len(e)} photos, {int(frontal.sum())} with "
             f"|yaw| < 30), face frame, units of sqrt(w h). Command: `{res['command']}`.", "",
             f"2-fold cross-validated frontal NME: {cv['nme_before']:.4f} uncorrected, {cv['nme_after']:.4f} with "
             f"per-point offsets from the other fold (drop {cv['drop']:.4f} +- {cv['drop_se']:.4f}).", "",
             "| region | mean offset length | NME |", "|---|---|---|"]
    lines += [f"| {k} | {v['offset']:.4f} | {v['nme']:.4f} |" for k, v in regions.items()]
    lines += ["", "| point | offset x | offset y | t x | t y | NME |", "|---|---|---|---|---|---|"]
    lines += [f"| {p['point']} | {p['frontal']['mean_x']:+.4f} | {p['frontal']['mean_y']:+.4f} | "
              f"{p['frontal']['t_x']:+.1f} | {p['frontal']['t_y']:+.1f} | {p['frontal']['nme']:.4f} |" for p in worst]
    write_text(out.with_suffix(".md"), "\n".join(lines) + "\n")
    print("\n".join(lines[:8]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
