"""A MobileNetV2 weights file grown by residual blocks that start as the identity, or by expanded channels
whose projection starts at zero, as the start of a fine-tune with more capacity (issue 21).

    python experiments/grow_network.py dlm/data/weights/offline_703.npz \\
        ~/.cache/dlm/grow/offline_d21.npz --network mobilenetv2_d21
    dlm train experiments/configs/probe67_d21.py --minutes 90 --campaign-log experiments/results/probe67.jsonl

The inverse of experiments/prune_network.py: `--network` names the larger network in
`dlm.landmarks.nets.NETWORKS`, whose block table has the source's stages with blocks added at their
ends (`nets.insert_blocks`) and/or larger expansions (`nets.widen_blocks`).  The new blocks and channels
are a fresh initialisation's (`--seed`); a new block's last batch norm's scale is zero and a new channel's
row of its block's projection is zero, so the grown network computes what the source does; it checks that on
random crops before it writes.  The output's manifest is the input's (samples seen, chain, CPU hours:
a fine-tune continues its account) with the new network and what was grown.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from prune_network import carried_account, network_blocks  # noqa: E402


def grow(src: Path, out: Path, network: str, seed: int = 0) -> dict:
    """Write src's weights grown to `network`'s block table to out; returns its manifest."""
    import jax
    import numpy as np
    from dlm.landmarks import nets, predictor as lmk
    variables, manifest = lmk.load_weights(src)
    blocks, kw = network_blocks(manifest["config"]["network"])
    table, want_kw = network_blocks(network)
    if {k: v for k, v in kw.items() if k != "blocks"} != {k: v for k, v in want_kw.items() if k != "blocks"}:
        raise ValueError(f"{network} differs from {manifest['config']['network']} in more than its blocks")
    num_landmarks = np.asarray(variables["params"]["LandmarkHead_0"]["Dense_0"]["bias"]).shape[0] // 3
    if len(blocks) != len(table):
        raise ValueError(f"{network} has {len(table)} stages, {manifest['config']['network']} {len(blocks)}")
    # Blocks first (the source's expansions), then expansions: each step keeps the function.
    deeper = tuple((a[0],) + tuple(b[1:]) for a, b in zip(blocks, table))
    grown = variables
    for old, new, step in ((tuple(map(tuple, blocks)), deeper, nets.insert_blocks),
                           (deeper, tuple(map(tuple, table)), nets.widen_blocks)):
        if new != old:
            module = nets.MobileNetV2(num_landmarks=num_landmarks, **dict(want_kw, blocks=new))
            grown = step(grown, old, nets.init_variables(module, jax.random.key(seed)), new)
    config = dict(manifest["config"], network=network)
    keep_m, metrics = carried_account(manifest)
    old = lmk.Predictor.load(src, runtime="xla")
    new = lmk.Predictor(network, old.num_landmarks, old.size, grown, old.landmark_set, old.manifest, runtime="xla")
    crops = np.asarray(jax.random.randint(jax.random.key(seed + 1), (4, old.size, old.size, 3), 0, 256), np.uint8)
    (m0, s0), (m1, s1) = (tuple(map(np.asarray, p(crops))) for p in (old, new))
    gap = float(max(np.abs(m0 - m1).max(), np.abs(s0 - s1).max()))
    if gap > 1e-3:
        raise ValueError(f"the grown network's output differs from the source's by {gap:.2g} px")
    out.parent.mkdir(parents=True, exist_ok=True)
    m = lmk.save_weights(out, grown, config, metrics=metrics,
                         extra=dict(keep_m, grown_from=dict(weights=str(src), sha256=lmk.sha256(src), seed=seed,
                                                            network=manifest["config"]["network"],
                                                            max_output_change_px=gap)))
    lmk.Predictor.load(out)    # the network and the weights fit
    return m


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("weights", help="a MobileNetV2 weights file (.npz)")
    ap.add_argument("out", help="the grown network's weights file (.npz; manifest beside it)")
    ap.add_argument("--network", required=True, help="the larger network's name in dlm.landmarks.nets.NETWORKS")
    ap.add_argument("--seed", type=int, default=0, help="the new blocks' initialisation")
    args = ap.parse_args(argv)
    from dlm.landmarks.predictor import WeightsError
    src, out = Path(args.weights).expanduser(), Path(args.out).expanduser()
    if out.suffix != ".npz" or out == src:
        print(f"grow_network: {out}: the output must be a new .npz file", file=sys.stderr)
        return 2
    try:
        m = grow(src, out, args.network, args.seed)
    except (ValueError, KeyError, FileNotFoundError, WeightsError) as e:
        print(f"grow_network: {e}", file=sys.stderr)
        return 2
    print(f"wrote {out} ({args.network}, {json.dumps(m['grown_from'])})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
