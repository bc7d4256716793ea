"""A MobileNetV2 weights file less some of its residual blocks, as the start of a fine-tune (issue 20).

    python experiments/prune_network.py dlm/data/weights/realtime_mnv2050_320.npz \\
        ~/.cache/dlm/prune/realtime_d13.npz --network mobilenetv2_050_d13 --remove 4 9 11 14
    dlm train experiments/configs/probe57_d13.py --minutes 30 --campaign-log PATH

The real-time network's time per crop is spread evenly over its layers (session 56's per-layer
profile), so a shorter network is a faster one.  A block with a skip connection adds its branch to
what passes through it; without the block the rest of the network still fits, and a fine-tune
teaches it to do without.  `--network` names the smaller network in `dlm.landmarks.nets.NETWORKS`:
its block table must be the one the removal leaves.  The output's manifest is the input's (samples
seen, chain, CPU hours: a fine-tune continues its account) with the new network and what was removed.
`--sensitivity` scores the dev photos (ground-truth crops, one pass) with each residual block removed
alone, no fine-tune, to choose which to remove.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402


def network_blocks(name: str):
    """The block table of a MobileNetV2 registered under `name` (its partial's keywords or the default)."""
    from dlm.landmarks import nets
    ctor = nets.NETWORKS[name]
    kw = getattr(ctor, "keywords", {})
    if getattr(ctor, "func", ctor) is not nets.MobileNetV2:
        raise ValueError(f"{name} is not a MobileNetV2")
    return tuple(kw.get("blocks", nets.MobileNetV2.blocks)), kw


def prune(src: Path, out: Path, network: str, removed: list[int]) -> dict:
    """Write src's weights less the blocks `removed` as `network` to out; returns its manifest."""
    from dlm.landmarks import nets, predictor as lmk
    variables, manifest = lmk.load_weights(src)
    blocks, _ = network_blocks(manifest["config"]["network"])
    small, table = nets.remove_blocks(variables, blocks, removed)
    want, _ = network_blocks(network)
    if tuple(map(tuple, want)) != table:
        raise ValueError(f"removing blocks {removed} leaves {table}, not {network}'s {want}")
    config = dict(manifest["config"], network=network)
    keep = {k: manifest[k] for k in ("samples_seen", "cpu_hours", "chain", "train_config", "data_seed")
            if k in manifest}
    metrics = {"steps": manifest.get("metrics", {}).get("steps", 0)}
    out.parent.mkdir(parents=True, exist_ok=True)
    m = lmk.save_weights(out, small, config, metrics=metrics,
                         extra=dict(keep, pruned_from=dict(weights=str(src), sha256=lmk.sha256(src),
                                                           network=manifest["config"]["network"],
                                                           removed_blocks=sorted(removed))))
    lmk.Predictor.load(out)    # the network and the weights fit
    return m


def sensitivity(src: Path, real_dir: Path) -> list[dict]:
    """Dev NME (ground-truth crops, one pass) with each residual block of src removed alone."""
    import functools
    from dlm.eval import aflw2000
    from dlm.landmarks import nets, predictor as lmk
    base = lmk.Predictor.load(src)
    blocks, kw = network_blocks(base.network)
    stage = [k for k, (_, _, n, _) in enumerate(blocks) for _ in range(n)]
    rows = []
    for remove in [()] + [(i,) for i in range(1, len(stage)) if stage[i] == stage[i - 1]]:
        var, table = nets.remove_blocks(base.variables, blocks, remove)
        name = f"{base.network}_without_{'_'.join(map(str, remove)) or 'none'}"
        nets.NETWORKS[name] = functools.partial(nets.MobileNetV2, **dict(kw, blocks=table))
        pred = lmk.Predictor(name, base.num_landmarks, base.size, var, base.landmark_set, base.manifest)
        s = aflw2000.summary(aflw2000.eval_aflw2000(real_dir, model=pred, roi="gt", label_translation=False))
        rows.append(dict(removed_block=remove[0] if remove else None, nme_balanced=s["nme_balanced"],
                         nme_inner51=s["nme_inner51"], failure_rate_10=s["failure_rate_10"]))
        print(json.dumps(rows[-1]), flush=True)
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("weights", help="a MobileNetV2 weights file (.npz)")
    ap.add_argument("out", nargs="?", help="the smaller network's weights file (.npz; manifest beside it)")
    ap.add_argument("--network", help="the smaller network's name in dlm.landmarks.nets.NETWORKS")
    ap.add_argument("--remove", type=int, nargs="+", default=[], help="blocks to remove (0-based, flax's numbering)")
    ap.add_argument("--sensitivity", action="store_true", help="score the dev photos with each block removed alone")
    ap.add_argument("--real-dir", default=str(Path(__file__).resolve().parents[2] / "shared/real/aflw2000_dev"))
    ap.add_argument("--json", help="write the sensitivity table here")
    args = ap.parse_args(argv)
    from dlm.landmarks.predictor import WeightsError
    src = Path(args.weights).expanduser()
    try:
        if args.sensitivity:
            started = time.time()
            rows = sensitivity(src, Path(args.real_dir))
            if args.json:
                common.record("prune_sensitivity", dict(weights=str(src), real_dir=args.real_dir),
                              dict(rows=rows), out=args.json, started=started)
            return 0
        if not args.out or not args.network or not args.remove:
            print("prune_network: give OUT, --network and --remove (or --sensitivity)", file=sys.stderr)
            return 2
        out = Path(args.out).expanduser()
        if out.suffix != ".npz" or out == src:
            print(f"prune_network: {out}: the output must be a new .npz file", file=sys.stderr)
            return 2
        m = prune(src, out, args.network, args.remove)
    except (ValueError, KeyError, WeightsError) as e:
        print(f"prune_network: {e}", file=sys.stderr)
        return 2
    print(f"wrote {out} ({args.network}, blocks {sorted(args.remove)} removed, sha256 {m['sha256'][:12]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
