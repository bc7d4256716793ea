"""The real-time landmark network's sixth campaign: the shipped weights (campaign 5's) trained on
two new pools of campaign 5's kind, one of them with beards that have volume (issue 21).

Campaign 5 (realtime_real5_320.py) showed that renders of a new kind carry over from the
fine-tuning probes to a full campaign (dev 6.86 -> 6.54%) where more renders of the old kind had
not (campaign 4: 6.86 -> 6.85%).  The beard probe of 2026-12-05 (experiments/results/
realism_finetune.md, env_light_50_beard) gained more than any other: dev 7.32% against three
controls at 7.70-7.73%.  This campaign draws two 48k pools this network has never seen, both with
campaign 5's switches (HDRI light on half the samples, skin detail, hair with a silhouette, long
hair, eyelashes, shoulders) and new seeds (6 and 7), the second with `--beard-volume`; the offline
campaign draws the same two.  Draws follow the pose prior.  Campaign 4's curve flattened by its
step 8,000 (7.18% at 4,000, 6.85% at 8,000 and 15,000), so this one is 10,000 steps.

    dlm synth --pool --num 48000 --size 160 --seed 6 --crop-scale 0.8 --env-light 0.5 \\
        --skin-detail --hair-volume --long-hair --eyelashes --shoulders --out ~/.cache/dlm/pools/pool160_48k_real6
    dlm synth --pool --num 48000 --size 160 --seed 7 --crop-scale 0.8 --env-light 0.5 \\
        --skin-detail --hair-volume --long-hair --eyelashes --shoulders --beard-volume \\
        --out ~/.cache/dlm/pools/pool160_48k_real7b
    dlm train experiments/configs/realtime_real7b_320.py --minutes 100 \\
        --campaign-log experiments/results/campaign_realtime_real7b_320.jsonl --roi-auto

Ship with experiments/ship_weights.py when the dev photos improve on both gates.
"""
from pathlib import Path

from dlm.io.provenance import REPO_ROOT as REPO
from dlm.train.loop import config_dict

# Campaign 5's config: the same network and recipe; this one changes the pools, seed, length, start and chain.
BASE = Path(__file__).with_name("realtime_real5_320.py")
CHAIN = REPO / "experiments" / "results" / "campaign_realtime_real7b_320" / "weights.npz"


def get_config():
    return dict(config_dict(BASE), name="realtime_real7b_320", data_seed=707, steps=10_000,
                pool=["pools/pool160_48k_real6", "pools/pool160_48k_real7b"],
                # The shipped weights' samples (campaign 5's end, 5,098,656): where this campaign's
                # schedule starts.
                campaign_start_samples=5_098_656,
                init_from=str(CHAIN) if CHAIN.exists() else "realtime_mnv2050_320")
