"""The real-time landmark network's tenth campaign: campaign 9's recipe from the shipped weights on two
pools with lenses (issue 21's `--lenses`), renderer version 2, every other switch but --cast-shadows.

Session 55's paired lens probe (probe55_lenses.py, probe55_lenses_b.py; experiments/results/probe55.jsonl)
lowered both arms of session 53's pair on the same heads (6.60 -> 6.50%, 6.54 -> 6.47%), the gain on the
dev photos with glasses: the first new kind of render since campaign 7 that moved the network.  Pools:
pool160_48k_real10L2 (seed 10, lenses version 2, 72ba8ca: probe55_lenses2.py renders it) and
pool160_48k_real11L3 (seed 11, the same switches, lenses version 3, 38a639e: each lens drawn against its
plane rather than its mean depth, which differs on a few pixels of turned heads' sunglasses; heads this
network has not seen), 6,000 steps of 32 (192k samples), campaign 7's rate, augmentation and pose prior,
other draws (data seed 1055).

    dlm synth --pool --num 48000 --size 160 --seed 11 --crop-scale 0.8 --env-light 0.5 \\
        --skin-detail --hair-volume --long-hair --eyelashes --shoulders --beard-volume --natural-light \\
        --lenses --out ~/.cache/dlm/pools/pool160_48k_real11L3
    dlm train experiments/configs/realtime_lenses_320.py --minutes 60 \\
        --campaign-log experiments/results/campaign_realtime_lenses_320.jsonl --roi-auto

Ship with experiments/ship_weights.py when the dev photos improve on both gates.
"""
from pathlib import Path

from dlm.io.provenance import REPO_ROOT as REPO
from dlm.train.loop import config_dict

# Campaign 9's config: the same network, recipe, augmentation, length and start; this one changes the
# pools, seed and chain.
BASE = Path(__file__).with_name("realtime_real10n_320.py")
CHAIN = REPO / "experiments" / "results" / "campaign_realtime_lenses_320" / "weights.npz"


def get_config():
    return dict(config_dict(BASE), name="realtime_lenses_320", data_seed=1055,
                pool=["pools/pool160_48k_real10L2", "pools/pool160_48k_real11L3"],
                init_from=str(CHAIN) if CHAIN.exists() else "realtime_mnv2050_320")
