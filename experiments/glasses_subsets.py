"""The dev photos with glasses, scored apart (issue 21: what the renderer's lenses are for).

    python experiments/glasses_subsets.py realtime ~/.cache/dlm/runs/realtime_lenses_320/weights.npz \\
        --json experiments/results/glasses_subsets_s56.json

Each model (a shipped name or a weights file) predicts the 200 AFLW2000-3D dev photos once, in the
ground-truth crop the evaluation uses (`dlm.eval.aflw2000.roi_from_box`), ICT's 68 points untranslated,
as `experiments/ship_weights.py` scores its first gate.  Besides the balanced NME and its yaw bins, the
mean NME over the 8 photos whose faces wear sunglasses, the 8 with clear glasses (picked by eye in session
55; `experiments/figures_lenses.py` lists them and shows them) and the other 184.  Eight photos are few:
one photo moves a subset's mean by an eighth of its change.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))


def subset_scores(model: str, dev: str) -> dict:
    """The ship gate's first scoring (`aflw2000.eval_aflw2000`, ground-truth crops, untranslated) of
    model on the dev photos, with the mean NME of each subset from its per-image records."""
    import numpy as np
    from dlm.eval import aflw2000
    from dlm.landmarks import predictor as lmk
    from figures_lenses import CLEAR, SUNGLASSES
    res = aflw2000.eval_aflw2000(dev, lmk.Predictor.load(model), roi="gt", label_translation=False)
    s = aflw2000.summary(res)
    names = [r["image"] for r in res["per_image"]]
    missing = sorted(set(SUNGLASSES + CLEAR) - set(names))
    if missing:
        raise ValueError(f"the dev photos lack {missing}")
    e = np.array([r["nme"] for r in res["per_image"]])
    sun, clear = np.isin(names, SUNGLASSES), np.isin(names, CLEAR)
    return dict(model=model, nme_balanced=s["nme_balanced"], yaw_bins=s["yaw_bins"],
                sunglasses_nme_mean=float(e[sun].mean()), clear_glasses_nme_mean=float(e[clear].mean()),
                other_nme_mean=float(e[~sun & ~clear].mean()), num_sunglasses=int(sun.sum()),
                num_clear_glasses=int(clear.sum()), num_other=int((~sun & ~clear).sum()))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("models", nargs="+", help="shipped names (realtime, offline) or weights .npz files")
    ap.add_argument("--real", default=None, help="the real photos' folder (default ../shared/real)")
    ap.add_argument("--json", default=None, help="write the scores and their provenance to this JSON file")
    args = ap.parse_args(argv)
    from dlm.io.files import write_json
    from dlm.io.provenance import environment, shared_real_path
    dev = Path(args.real or shared_real_path("")) / "aflw2000_dev"
    if not dev.is_dir():
        print(f"glasses_subsets: {dev}: no such folder (the labelled dev photos)", file=sys.stderr)
        return 2
    for m in args.models:
        if m not in ("realtime", "offline") and not Path(m).expanduser().is_file():
            print(f"glasses_subsets: {m}: neither a shipped model nor a weights file", file=sys.stderr)
            return 2
    rows = []
    for m in args.models:
        try:
            r = subset_scores(m if m in ("realtime", "offline") else str(Path(m).expanduser()), str(dev))
        except ValueError as e:     # a dev folder without the photos the subsets name
            print(f"glasses_subsets: {e}", file=sys.stderr)
            return 2
        rows.append(r)
        print(f"{m}: balanced {100 * r['nme_balanced']:.2f}%  sunglasses ({r['num_sunglasses']}) "
              f"{100 * r['sunglasses_nme_mean']:.2f}%  clear glasses ({r['num_clear_glasses']}) "
              f"{100 * r['clear_glasses_nme_mean']:.2f}%  other ({r['num_other']}) {100 * r['other_nme_mean']:.2f}%")
    if args.json:
        write_json(args.json, dict(experiment="glasses_subsets", command="python experiments/glasses_subsets.py "
                                          + " ".join(argv if argv is not None else sys.argv[1:]),
                                          environment=environment(), results=rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
