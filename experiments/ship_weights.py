"""Ship a campaign's weights as the packaged model, only if they beat it on the real dev photos.

    python experiments/ship_weights.py ~/.cache/dlm/runs/realtime_pool_320/weights.npz --name realtime

Scores the candidate and the shipped model on `../shared/real/aflw2000_dev` (AFLW2000-3D protocol,
ground-truth crop, balanced NME over the three yaw bins) and, when the candidate's balanced NME is
lower, copies its half-precision weights and manifest over the shipped files
(`dlm/data/weights/<file>.{npz,json}`), records both dev scores in the manifest (`dev_eval`), and
recalibrates the ROI face / no-face threshold and the quality thresholds for the new weights
(calibrate_roi.py, calibrate_quality.py --write-manifest).  Then the second gate, what users get:
the same photos through the product's own face finder (`--roi auto`: detector, network, its new
thresholds), judged by `own_roi_gate`: the candidate must find at least as many faces (a face "found"
at NME >= 50%, half a face away, counts as not found), and on the
photos both find, its balanced NME must not be above the shipped model's (paired: a face one model
finds and the other misses is no longer scored against an average of the other's easier set).
Otherwise every file written is put back as it was and nothing ships (campaign 2's step 29,333:
7.54% vs 7.70% on ground-truth crops, 11.00% vs 8.69% own-ROI before the face finder's fix of
2026-12-04).  The per-photo own-ROI NMEs of both go into the record.  Writes
experiments/results/ship_<name>.json when it ships, ship_<name>_rejected.json when not (all four
scores, the gate's paired figures, the decision, git revision).  A candidate of another architecture
or input size than the shipped network (the same landmark set and loss) is scored only with
`--new-network`; another landmark set or loss never.  `--faster RECORD` ships a network of the shipped one's
function made faster (a pruned start: experiments/prune_network.py) when RECORD, frame_network_ab.py --tracker's
timing of this very file in the tracker, finds it faster (in enough of the paired rounds: sign test p < 0.05), and each gate holds within `--tolerance` (default 0.01
points) instead of strictly: such a network is not meant to read the photos better, only as well, sooner.  Exit 0
whether shipped or not; 2 on bad input.  The first offline network is compared with the real-time
one, which "offline" stands for until one ships.  Both gates compare ICT's 68 points untranslated; once
the weights ship, experiments/label_translation.py fits their translation to AFLW2000-3D's 68.
"""
from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
HERE = Path(__file__).resolve().parent


# What the product depends on in a network's config: the landmark set (the vertex map, the fitter's
# structure) and the loss (what sigma means).  The architecture and input size reach users only through
# what the gates measure, but a change of them ships only when asked for (--new-network), so that a run
# of the wrong config cannot replace the shipped network by accident.
PRODUCT_KEYS = ("landmark_set", "num_landmarks", "loss")


def dev_result(pred, directory: str, roi: str = "gt") -> dict:
    from dlm.eval import aflw2000
    # Untranslated: a candidate has no label translation until it ships, and the gate compares the
    # networks, not the translations.
    return aflw2000.eval_aflw2000(directory, pred, roi=roi, label_translation=False)


def dev_scores(pred, directory: str, roi: str = "gt") -> dict:
    from dlm.eval import aflw2000
    return aflw2000.summary(dev_result(pred, directory, roi))


def per_photo(result: dict) -> dict:
    """image name -> (NME, yaw in degrees) of each photo an eval_aflw2000 result scored."""
    return {r["image"]: (r["nme"], r["yaw_deg"]) for r in result["per_image"]}


# A face counts as found when its landmarks' mean error is below half the face's size (NME is
# normalised by the labelled box's sqrt(w h)): beyond that the search returned something other than
# the labelled face (session 51: the shipped real-time network "found" image03123, a face turned
# 108 degrees, at 97.8% NME, and a candidate that returned no face there was failed for it).  Users
# are better served by "no face found" than by a fit half a face away.
GROSS_NME = 0.5


def own_roi_gate(candidate: dict, shipped: dict, gross_nme: float = GROSS_NME, tolerance: float = 0.0) -> dict:
    """The second gate from two `per_photo` maps (a photo missing from one: its face not found;
    one found at NME >= gross_nme: counted as not found either, and listed).  Passes when the
    candidate finds at least as many faces and, on the photos both found, its balanced NME (mean
    of the yaw bins' means) is not above the shipped model's plus `tolerance` (0 but for a faster
    network of the same function, `--faster`)."""
    from dlm.eval import aflw2000
    gross = dict(candidate=sorted(k for k, v in candidate.items() if v[0] >= gross_nme),
                 shipped=sorted(k for k, v in shipped.items() if v[0] >= gross_nme))
    returned = dict(candidate=len(candidate), shipped=len(shipped))
    candidate = {k: v for k, v in candidate.items() if v[0] < gross_nme}
    shipped = {k: v for k, v in shipped.items() if v[0] < gross_nme}
    both = sorted(set(candidate) & set(shipped))

    def balanced(m):
        return aflw2000.scores([dict(image=k, nme=m[k][0], nme_inner51=m[k][0], yaw_deg=m[k][1]) for k in both])

    cand, old = balanced(candidate), balanced(shipped)
    found_ok = len(candidate) >= len(shipped)
    nme_ok = cand["nme_balanced"] is not None and old["nme_balanced"] is not None \
        and cand["nme_balanced"] <= old["nme_balanced"] + tolerance
    return dict(passed=bool(found_ok and nme_ok), tolerance=tolerance, found_candidate=len(candidate), found_shipped=len(shipped),
                paired_photos=len(both), paired_nme_balanced_candidate=cand["nme_balanced"],
                paired_nme_balanced_shipped=old["nme_balanced"],
                paired_yaw_bins_candidate={k: v["nme"] for k, v in cand["yaw_bins"].items()},
                paired_yaw_bins_shipped={k: v["nme"] for k, v in old["yaw_bins"].items()},
                only_candidate=sorted(set(candidate) - set(shipped)), only_shipped=sorted(set(shipped) - set(candidate)),
                gross_nme=gross_nme, returned_candidate=returned["candidate"], returned_shipped=returned["shipped"],
                gross_candidate=gross["candidate"], gross_shipped=gross["shipped"])


def faster_record(path: str, weights: str) -> dict:
    """The candidate's timing against the shipped network from frame_network_ab.py --tracker's record:
    the record must time this very file (its sha256 now) in the tracker and find it faster."""
    from dlm.landmarks import predictor as lmk
    rec = json.loads(Path(path).read_text())
    if rec.get("experiment") != "frame_network_ab" or not rec.get("config", {}).get("tracker"):
        raise ValueError("not a frame_network_ab.py --tracker record")
    nets = rec["results"]["networks"]
    name = next((k for k in nets if k != "shipped" and Path(k).expanduser().resolve() == Path(weights).expanduser().resolve()),
                None)
    if name is None:
        raise ValueError(f"it does not time {weights}")
    sha = rec["results"].get("sha256", {}).get(name)
    if sha != lmk.sha256(Path(weights).expanduser()):
        raise ValueError(f"it timed another file at {weights} (sha256 {sha})")
    ratio = nets[name]["ratio_to_shipped"]
    # Faster in enough of the paired rounds that chance would rarely give as many (one-sided sign test,
    # p < 0.05): on this project's VMs a round's median moves by more than such a network's gain.
    mine, theirs = nets[name]["round_medians_ms"], nets["shipped"]["round_medians_ms"]
    wins = sum(a < b for a, b in zip(mine, theirs))
    p = sum(math.comb(len(mine), k) for k in range(wins, len(mine) + 1)) / 2 ** len(mine)
    if not (ratio < 1.0 and p < 0.05):
        raise ValueError(f"the candidate is not shown faster in the tracker ({ratio:.3f}x the shipped network, faster "
                         f"in {wins} of {len(mine)} paired rounds: sign test p = {p:.2f})")
    return dict(record=str(path), ratio_to_shipped=ratio, median_ms=nets[name]["median_ms"],
                shipped_median_ms=nets["shipped"]["median_ms"], rounds_faster=wins, rounds=len(mine),
                sign_test_p=p, cpu=rec["results"].get("cpu"))


def written_files(name: str, target: Path) -> list[Path]:
    """Every file shipping writes: the weights pair and the calibrations' records."""
    res = HERE / "results"
    return [target, target.with_suffix(".json"), res / target.stem / "roi_calibration.json",
            res / target.stem / "quality_calibration.json", res / "face_quality.md"]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("weights", help="the candidate weights .npz (its .json manifest beside it)")
    ap.add_argument("--name", default="realtime", help="the shipped model to replace")
    ap.add_argument("--dev", default=None, help="AFLW2000-3D dev folder (default ../shared/real/aflw2000_dev)")
    ap.add_argument("--dry-run", action="store_true", help="score and decide, change nothing (no record written either)")
    ap.add_argument("--new-network", action="store_true",
                    help="the candidate may be another architecture or input size than the shipped network (the same "
                         "landmark set and loss); the gates are the same")
    ap.add_argument("--faster", metavar="RECORD",
                    help="a faster network of the shipped one's function (a pruned start, experiments/prune_network.py): "
                         "frame_network_ab.py --tracker's record timing this candidate against the shipped network; "
                         "it ships when that record shows it faster (ratio < 1) and each gate holds within "
                         "--tolerance instead of strictly")
    ap.add_argument("--tolerance", type=float, default=1e-4,
                    help="with --faster: how far above the shipped network's balanced NME (a fraction: 1e-4 is 0.01 "
                         "points, a tenth of what the 200 dev photos resolve) each gate still passes")
    args = ap.parse_args(argv)
    from dlm.io.files import write_json
    from dlm.io.provenance import git_revision, shared_real_path
    from dlm.eval import aflw2000
    from dlm.landmarks import predictor as lmk
    dev = args.dev or shared_real_path("aflw2000_dev")
    if not Path(dev).is_dir():
        print(f"ship_weights: {dev}: no such folder (the dev photos decide what ships)", file=sys.stderr)
        return 2
    if args.name not in lmk.SHIPPED:
        print(f"ship_weights: --name must be one of {sorted(lmk.SHIPPED)}", file=sys.stderr)
        return 2
    try:
        cand = lmk.Predictor.load(args.weights)
    except (lmk.WeightsError, FileNotFoundError) as e:
        print(f"ship_weights: {e}", file=sys.stderr)
        return 2
    target = lmk.WEIGHTS_DIR / f"{lmk.SHIPPED[args.name]}.npz"
    # What users get under this name today, which the candidate must beat: with no offline network
    # shipped yet, "offline" stands for the real-time one (another network, so no config check).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        current = lmk.resolve_shipped(args.name)
    current_file = lmk.WEIGHTS_DIR / f"{lmk.SHIPPED[current]}.npz"
    old = lmk.Predictor.load(current_file) if current_file.exists() else None
    new_cfg, old_cfg = cand.manifest.get("config", {}), (old.manifest.get("config", {}) if old else {})
    if current == args.name and old is not None and new_cfg != old_cfg:
        fixed = [k for k in PRODUCT_KEYS if new_cfg.get(k) != old_cfg.get(k)]
        if fixed or not args.new_network:
            why = (f"its {', '.join(fixed)} differ" if fixed else
                   "another architecture or input size ships only with --new-network")
            print(f"ship_weights: {args.weights} is another network than the shipped {args.name} ({why}: "
                  f"{new_cfg} vs {old_cfg})", file=sys.stderr)
            return 2
    tolerance, speed = 0.0, None
    if args.faster:
        try:
            speed = faster_record(args.faster, args.weights)
        except (OSError, ValueError, KeyError) as e:
            print(f"ship_weights: --faster {args.faster}: {e}", file=sys.stderr)
            return 2
        tolerance = args.tolerance
    new_dev = dev_scores(cand, dev)
    old_dev = dev_scores(old, dev) if old is not None else None
    old_auto_result = dev_result(old, dev, "auto") if old is not None else None
    old_auto = aflw2000.summary(old_auto_result) if old is not None else None
    better = old_dev is None or new_dev["nme_balanced"] < old_dev["nme_balanced"] or \
        (speed is not None and new_dev["nme_balanced"] <= old_dev["nme_balanced"] + tolerance)
    res = dict(experiment="ship_weights", name=args.name, candidate=str(args.weights),
               candidate_sha256=cand.manifest.get("sha256"), shipped_sha256=old.manifest.get("sha256") if old else None,
               dev=dev, candidate_dev=new_dev, shipped_dev=old_dev, candidate_dev_roi_auto=None,
               shipped_dev_roi_auto=old_auto, shipped=False,
               config_change=dict(candidate=new_cfg, shipped=old_cfg) if old is not None and new_cfg != old_cfg else None,
               reason="ground-truth crops: not better than the shipped model" if not better else None,
               faster=speed, tolerance=tolerance,
               git_revision=git_revision())
    if better and args.dry_run:
        res["reason"] = "dry run (own-ROI needs the candidate's calibrated thresholds: not scored)"
    if better and not args.dry_run:
        saved = {f: f.read_bytes() if f.exists() else None for f in written_files(args.name, target)}
        shutil.copyfile(args.weights, target)
        manifest = json.loads(Path(args.weights).with_suffix(".json").read_text())
        manifest["dev_eval"] = dict(new_dev, dir=Path(dev).name, previous=old_dev,
                                    previous_sha256=res["shipped_sha256"])
        write_json(target.with_suffix(".json"), manifest)
        lmk.Predictor.load(target)   # the copied pair verifies (sha256, shapes)
        import calibrate_roi
        calibrate_roi.main(["--model", args.name, "--write-manifest"])
        import calibrate_quality   # after the ROI threshold: the search it runs uses it
        calibrate_quality.main(["--model", args.name, "--write-manifest", "--real", str(Path(dev).parent)])
        new_auto_result = dev_result(lmk.Predictor.load(target), dev, "auto")
        new_auto = res["candidate_dev_roi_auto"] = aflw2000.summary(new_auto_result)
        if old_auto_result is not None:
            new_pp, old_pp = per_photo(new_auto_result), per_photo(old_auto_result)
            res["own_roi_per_photo"] = dict(candidate={k: v[0] for k, v in new_pp.items()},
                                            shipped={k: v[0] for k, v in old_pp.items()})
            res["own_roi_gate"] = own_roi_gate(new_pp, old_pp, tolerance=tolerance)
        if old_auto_result is not None and not res["own_roi_gate"]["passed"]:
            for f, data in saved.items():    # what users get would be worse: put everything back
                if data is None:
                    f.unlink(missing_ok=True)
                else:
                    f.write_bytes(data)
            res["reason"] = ("own ROI (--roi auto): fewer faces found or worse on the photos both find "
                             "than the shipped model; files restored")
        else:
            manifest = json.loads(target.with_suffix(".json").read_text())
            manifest["dev_eval"]["roi_auto"] = dict(new_auto, previous=old_auto)
            write_json(target.with_suffix(".json"), manifest)
            res["shipped"] = True
            import label_translation   # the new network's own translation to AFLW2000-3D's 68 points
            label_translation.main(["--model", args.name, "--write-manifest", "--real", str(Path(dev).parent)])
    print(json.dumps({k: res[k] for k in ("candidate_dev", "shipped_dev", "candidate_dev_roi_auto",
                                          "shipped_dev_roi_auto", "own_roi_gate", "shipped", "reason") if k in res}, indent=1))
    # The shipped model's record stays until another ships; a rejection gets its own (the latest).  A dry
    # run changes nothing, records included (it once overwrote the latest rejection's record).
    if not args.dry_run:
        write_json(HERE / "results" / f"ship_{args.name}{'' if res['shipped'] else '_rejected'}.json", res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
