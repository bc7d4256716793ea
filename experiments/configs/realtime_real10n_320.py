"""The real-time landmark network's ninth campaign: campaign 7's recipe from the shipped weights on
two pools of its own kind (renderer version 1, every switch but --cast-shadows, natural light), in one
session.

Session 53's first probe pair (experiments/results/probe53.jsonl) put the renderer's version-2 view vector
at -0.08 points, its replicate with other draws at +0.04 (draws alone move the probe 0.06), and campaign 8
on version 2 with shadows (realtime_real10s_320.py) did not ship (6.52% against 6.47).  Not run in session
53 (the CPU went to that replicate); the pools it names are version-1 pools that exist only on the machine
that rendered them.  This campaign stays on the kind that shipped: pool160_48k_real9n (campaign 7's, seed 9) and pool160_48k_real10n (seed
10, the same switches, drawn by version 1 before the fix; 48,000 heads this network has seen only in
session 52's 2,000-step probe), 6,000 steps of 32 (192k samples), campaign 7's rate, augmentation and
pose prior, other draws (data seed 1012).

    dlm train experiments/configs/realtime_real10n_320.py --minutes 60 \\
        --campaign-log experiments/results/campaign_realtime_real10n_320.jsonl --roi-auto

Ship with experiments/ship_weights.py when the dev photos improve on both gates.
"""
from pathlib import Path

from dlm.io.provenance import REPO_ROOT as REPO
from dlm.train.loop import config_dict

# Campaign 7's config: the same network, recipe, augmentation and length; this one changes the pools,
# seed, start and chain.
BASE = Path(__file__).with_name("realtime_real9n_320.py")
CHAIN = REPO / "experiments" / "results" / "campaign_realtime_real10n_320" / "weights.npz"


def get_config():
    return dict(config_dict(BASE), name="realtime_real10n_320", data_seed=1012,
                pool=["pools/pool160_48k_real9n", "pools/pool160_48k_real10n"],
                # The shipped weights' samples (campaign 7's end, 5,290,656): where this campaign's
                # schedule starts.
                campaign_start_samples=5_290_656,
                init_from=str(CHAIN) if CHAIN.exists() else "realtime_mnv2050_320")
