"""A MobileNetV2 weights file less some of its residual blocks, as the start of a fine-tune (issue 20).

    python experiments/prune_network.py dlm/data/weights/realtime_mnv2050_320.npz \\
        ~/.cache/dlm/prune/realtime_d13.npz --network mobilenetv2_050_d13 --remove 4 9 11 14
    dlm train experiments/configs/probe57_d13_l640.py --minutes 35 --campaign-log PATH   # with --last-channels 640

The real-time network's time per crop is spread evenly over its layers (session 56's per-layer
profile), so a shorter network is a faster one.  A block with a skip connection adds its branch to
what passes through it; without the block the rest of the network still fits, and a fine-tune
teaches it to do without.  `--network` names the smaller network in `dlm.landmarks.nets.NETWORKS`:
its block table must be the one the removal leaves.  The output's manifest is the input's (samples
seen, chain, CPU hours: a fine-tune continues its account) with the new network and what was removed.
`--last-channels N --pool P...` keeps N channels of the last 1 x 1 convolution (and the head's rows
for them): those whose removal would move the head's input most on the pools' training draws
(`nets.remove_last_channels`).  `--sensitivity` scores the dev photos (ground-truth crops, one pass) with each residual block removed
alone, no fine-tune, to choose which to remove.
"""
from __future__ import annotations

import argparse
import functools
import json
import os
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


def carried_account(manifest: dict) -> tuple[dict, dict]:
    """What a network made from another's weights carries on from its manifest (samples seen, CPU hours,
    the chain of runs, the training config and seed: a fine-tune continues its account) and its metrics
    (the steps only: the scores were the other network's)."""
    keep = {k: manifest[k] for k in ("samples_seen", "cpu_hours", "chain", "train_config", "data_seed") if k in manifest}
    return keep, {"steps": manifest.get("metrics", {}).get("steps", 0)}


def pooled_channel_stats(pred, pool_dirs, samples: int, seed: int):
    """Mean and standard deviation (C,) of each channel of the network's last 1 x 1 convolution after
    batch norm, ReLU6 and the spatial mean, over `samples` training draws (the pools' crops with the
    training augmentation, `dlm.synth.pool.pool_batch`): synthetic images only, as the network is
    trained on them."""
    import jax
    import jax.numpy as jnp
    import numpy as np
    from dlm.io.provenance import cache_dir
    from dlm.synth import pool as pool_lib

    folders = [d if os.path.isabs(d) else cache_dir(d) for d in pool_dirs]
    pool = pool_lib.load_pools(folders, pred.landmark_set)

    @jax.jit
    def pooled(images):
        x = images.astype(jnp.float32) / 255.0
        _, inter = pred.module.apply(pred.variables, x, train=False, capture_intermediates=True)
        bn = inter["intermediates"]["BatchNorm_1"]["__call__"][0]
        return jnp.mean(jnp.clip(bn, 0.0, 6.0), axis=(1, 2))

    feats = []
    for start in range(0, samples, 64):
        batch = pool_lib.pool_batch(pool, seed, start, min(64, samples - start), pred.size)
        feats.append(np.asarray(pooled(batch["image"]), np.float64))
    feats = np.concatenate(feats)
    return feats.mean(0), feats.std(0)


def prune(src: Path, out: Path, network: str, removed: list[int], last_channels: int | None = None,
          pool_dirs=(), samples: int = 1024, seed: int = 0) -> dict:
    """Write src's weights less the blocks `removed` (and with only `last_channels` channels in the
    last 1 x 1 convolution: those whose removal would move the head's input most, std x the norm
    of the head's row on src's training draws; each removed one replaced by its mean) as `network`
    to out; returns its manifest."""
    import numpy as np
    from dlm.landmarks import nets, predictor as lmk
    variables, manifest = lmk.load_weights(src)
    blocks, kw = network_blocks(manifest["config"]["network"])
    small, table = nets.remove_blocks(variables, blocks, removed)
    want, want_kw = network_blocks(network)
    last, want_last = (k.get("last_features", nets.MobileNetV2.last_features) for k in (kw, want_kw))
    if tuple(map(tuple, want)) != table:
        raise ValueError(f"removing blocks {removed} leaves {table}, not {network}'s {want}")
    pruned = dict(removed_blocks=sorted(removed))
    if last_channels:
        if not pool_dirs:
            raise ValueError("--last-channels needs --pool (the channels are judged on training draws)")
        c = np.asarray(small["params"]["Conv_1"]["kernel"]).shape[-1]
        if want_last != last_channels or not 0 < last_channels < c:
            raise ValueError(f"{network} has {want_last} last channels, not {last_channels} (of {c})")
        # Judged on the source network, before any block is removed: the channels it uses are the
        # ones a fine-tune of the shorter network is to restore.
        mean, std = pooled_channel_stats(lmk.Predictor.load(src), pool_dirs, samples, seed)
        importance = std * np.linalg.norm(np.asarray(small["params"]["LandmarkHead_0"]["Dense_0"]["kernel"]), axis=1)
        keep = np.sort(np.argsort(-importance)[:last_channels])
        small = nets.remove_last_channels(small, keep, mean)
        pruned.update(last_channels=int(last_channels), channel_pools=list(pool_dirs), channel_samples=samples,
                      channel_seed=seed, importance_kept=float(importance[keep].sum() / importance.sum()))
    elif want_last != last:
        raise ValueError(f"{network} has another last convolution than the source: give --last-channels")
    config = dict(manifest["config"], network=network)
    keep_m, metrics = carried_account(manifest)
    out.parent.mkdir(parents=True, exist_ok=True)
    m = lmk.save_weights(out, small, config, metrics=metrics,
                         extra=dict(keep_m, pruned_from=dict(pruned, weights=str(src), sha256=lmk.sha256(src),
                                                             network=manifest["config"]["network"])))
    lmk.Predictor.load(out)    # the network and the weights fit
    return m


def sensitivity(src: Path, real_dir: Path) -> list[dict]:
    """Dev NME (ground-truth crops, one pass) with each residual block of src removed alone."""
    from dlm.eval import aflw2000
    from dlm.landmarks import nets, predictor as lmk
    base = lmk.Predictor.load(src)
    blocks, kw = network_blocks(base.network)
    rows = []
    for remove in [()] + [(i,) for i in nets.residual_blocks(blocks)]:
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
    ap.add_argument("--last-channels", type=int, help="keep this many channels of the last 1 x 1 convolution")
    ap.add_argument("--pool", nargs="+", default=[], help="render pools (under DLM_CACHE or absolute) whose "
                    "training draws judge the channels")
    ap.add_argument("--samples", type=int, default=1024, help="training draws that judge the channels")
    ap.add_argument("--seed", type=int, default=0, help="the draws' seed")
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
        if not args.out or not args.network or not (args.remove or args.last_channels):
            print("prune_network: give OUT, --network and --remove and/or --last-channels (or --sensitivity)",
                  file=sys.stderr)
            return 2
        out = Path(args.out).expanduser()
        if out.suffix != ".npz" or out == src:
            print(f"prune_network: {out}: the output must be a new .npz file", file=sys.stderr)
            return 2
        m = prune(src, out, args.network, args.remove, args.last_channels, args.pool, args.samples, args.seed)
    except (ValueError, KeyError, FileNotFoundError, WeightsError) as e:
        print(f"prune_network: {e}", file=sys.stderr)
        return 2
    print(f"wrote {out} ({args.network}, {json.dumps(m['pruned_from'])})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
