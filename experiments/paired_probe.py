"""Two networks on the same dev photos, photo by photo (issue 21: is a probe's difference bigger than chance?).

    python experiments/paired_probe.py ~/.cache/dlm/runs/probe65_control/weights.npz \\
        ~/.cache/dlm/runs/probe66_identity20/weights.npz --json experiments/results/paired_probe66.json

A probe's two arms differ in one thing and see the same draws, so their dev photos' errors are paired:
each arm (a shipped name or a weights file) predicts the 200 AFLW2000-3D dev photos once, in the
ground-truth crop the campaign lines use (`--roi auto`: with dlm's own face finding, their second figure,
on the photos where both arms found the face) (`dlm.eval.aflw2000.eval_aflw2000`, ICT's 68 untranslated), and
B - A is taken per photo.  Reported: both arms' balanced NME and yaw bins, the balanced difference, how
many photos B reads better and worse, and a 95% interval for the balanced difference from a paired
bootstrap (`--resamples` draws of the photos with replacement within each yaw bin, both arms' errors
drawn together; numpy seed `--seed`).  An interval that holds zero says the two arms are not told apart by
these photos; the draws' own spread (the same recipe on other draws, ~0.01 points) is a separate limit.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))


def per_photo(model: str, dev: str, roi: str = "gt") -> list[dict]:
    """The per-image records of `model` on the dev photos (ICT's 68 untranslated): ground-truth crops, or
    roi "auto", dlm's own face finding as the campaign lines' second figure (photos where it finds no
    face have no record)."""
    from dlm.eval import aflw2000
    from dlm.landmarks import predictor as lmk
    pred = lmk.shipped(model) if model in ("realtime", "offline") else lmk.Predictor.load(Path(model).expanduser())
    return aflw2000.eval_aflw2000(dev, pred, roi=roi, label_translation=False)["per_image"]


def paired(a: list[dict], b: list[dict], resamples: int = 2000, seed: int = 0, common: bool = False) -> dict:
    """The paired comparison of two arms' per-image records (the same photos, `aflw2000.scores`' rows):
    balanced NMEs, B - A, photos better / worse / equal for B, and the paired bootstrap's 95% interval
    of B - A's balanced NME (resampling photos within each yaw bin).  common: compare on the photos both
    arms scored (own face finding may miss a face in one); otherwise different photos are a ValueError."""
    import numpy as np
    from dlm.eval import aflw2000
    num_a, num_b = len(a), len(b)
    if common:
        shared = {r["image"] for r in a} & {r["image"] for r in b}
        a, b = [r for r in a if r["image"] in shared], [r for r in b if r["image"] in shared]
    by_name = {r["image"]: r for r in b}
    if sorted(by_name) != sorted(r["image"] for r in a):
        raise ValueError("the two arms scored different photos")
    ea = np.array([r["nme"] for r in a])
    eb = np.array([by_name[r["image"]]["nme"] for r in a])
    yaw = np.abs([r["yaw_deg"] for r in a])
    bins = [np.flatnonzero((yaw >= lo) & (yaw < hi)) for lo, hi in aflw2000.YAW_BINS]
    if any(len(i) == 0 for i in bins):
        raise ValueError("a yaw bin holds no photo: no balanced NME")

    def balanced(e, picks):
        return float(np.mean([e[i].mean() for i in picks]))

    rng = np.random.default_rng(seed)
    diffs = []
    for _ in range(resamples):
        picks = [rng.choice(i, len(i)) for i in bins]
        diffs.append(balanced(eb, picks) - balanced(ea, picks))
    sa, sb = aflw2000.scores(a), aflw2000.scores([by_name[r["image"]] for r in a])
    return dict(a_nme_balanced=sa["nme_balanced"], b_nme_balanced=sb["nme_balanced"],
                a_yaw_bins={k: v["nme"] for k, v in sa["yaw_bins"].items()},
                b_yaw_bins={k: v["nme"] for k, v in sb["yaw_bins"].items()},
                b_minus_a_balanced=sb["nme_balanced"] - sa["nme_balanced"],
                b_minus_a_ci95=[float(np.quantile(diffs, 0.025)), float(np.quantile(diffs, 0.975))],
                photos_b_better=int((eb < ea).sum()), photos_b_worse=int((eb > ea).sum()),
                photos_equal=int((eb == ea).sum()), num_photos=len(ea), a_num_scored=num_a, b_num_scored=num_b,
                resamples=resamples, seed=seed)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("a", help="arm A (the control): a shipped name (realtime, offline) or a weights .npz file")
    ap.add_argument("b", help="arm B (the change), as A")
    ap.add_argument("--real", default=None, help="the real photos' folder (default ../shared/real)")
    ap.add_argument("--roi", choices=["gt", "auto"], default="gt",
                    help="gt: the ground-truth crop (default); auto: dlm's own face finding, compared on the photos "
                         "where both arms found the face")
    ap.add_argument("--resamples", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=None, help="write the figures and their provenance to this JSON file")
    args = ap.parse_args(argv)
    import time
    import common
    from dlm.io.provenance import shared_real_path
    started = time.time()
    dev = Path(args.real or shared_real_path("")) / "aflw2000_dev"
    if not dev.is_dir():
        print(f"paired_probe: {dev}: no such folder (the labelled dev photos)", file=sys.stderr)
        return 2
    for m in (args.a, args.b):
        if m not in ("realtime", "offline") and not Path(m).expanduser().is_file():
            print(f"paired_probe: {m}: neither a shipped model nor a weights file", file=sys.stderr)
            return 2
    if args.resamples < 100:
        print("paired_probe: --resamples must be at least 100", file=sys.stderr)
        return 2
    r = paired(per_photo(args.a, str(dev), args.roi), per_photo(args.b, str(dev), args.roi), args.resamples, args.seed,
               common=args.roi == "auto")
    lo, hi = r["b_minus_a_ci95"]
    print(f"A {100 * r['a_nme_balanced']:.3f}%, B {100 * r['b_nme_balanced']:.3f}% balanced; B - A "
          f"{100 * r['b_minus_a_balanced']:+.3f} points (95% paired bootstrap {100 * lo:+.3f} to {100 * hi:+.3f}); "
          f"B better on {r['photos_b_better']} photos, worse on {r['photos_b_worse']}"
          + (f" (of the {r['num_photos']} both found; A found {r['a_num_scored']}, B {r['b_num_scored']})"
             if args.roi == "auto" else ""))
    common.record("paired_probe", dict(a=args.a, b=args.b, dev=str(dev), roi=args.roi, resamples=args.resamples, seed=args.seed),
                  r, out=args.json, started=started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
