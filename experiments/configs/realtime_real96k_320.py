"""The real-time landmark network's fourth campaign: the shipped weights (campaign 3's end) trained
further on twice as many realistic renders (issue 21).

Campaign 3 (realtime_real48k_320.py) fine-tuned the shipped network on 48,000 renders with HDRI
light on half the samples, skin detail, and hair with a silhouette and long hair: the real dev
photos fell from 7.54% to 6.86% balanced, and fell at every evaluation (7.11% at step 2,000, 6.90%
at 7,000, 6.86% at 15,000), while the synthetic test error rose (that set has none of the realism).
Its 480,000 samples were ten epochs of its pool.  This campaign grows the same pool to 96,000
renders (the same settings and seed: samples 0-47,999 are campaign 3's, copied; 48,000-95,999 are
new), so that five epochs bring 48,000 faces, lights and hair the network has not seen, and
continues from the shipped weights with a fresh warm-up to 3e-4 and a cosine over 15,000 steps.

    dlm synth --pool --num 96000 --size 160 --seed 3 --crop-scale 0.8 --env-light 0.5 \\
        --skin-detail --hair-volume --long-hair --grow-from ~/.cache/dlm/pools/pool160_48k_real3 \\
        --out ~/.cache/dlm/pools/pool160_96k_real3
    dlm train experiments/configs/realtime_real96k_320.py --minutes 70 \\
        --campaign-log experiments/results/campaign_realtime_real96k_320.jsonl --roi-auto

The chain's committed state is experiments/results/campaign_realtime_real96k_320/ (weights.npz,
weights.json, metrics.jsonl of runs/realtime_real96k_320, copied there at each session's end); a
new machine continues from it, and before it exists (the campaign's first run) from the shipped
weights.  Ship with experiments/ship_weights.py when the dev photos improve.
"""
from pathlib import Path

from dlm.io.provenance import REPO_ROOT as REPO
from dlm.train.loop import config_dict

# Campaign 3's config: the same network, recipe and pool settings; this one changes the pool, seed,
# start and chain.
BASE = Path(__file__).with_name("realtime_real48k_320.py")
CHAIN = REPO / "experiments" / "results" / "campaign_realtime_real96k_320" / "weights.npz"


def get_config():
    return dict(config_dict(BASE), name="realtime_real96k_320", pool="pools/pool160_96k_real3", data_seed=313,
                # The shipped weights' samples (campaign 3's end, 4,618,656): where this campaign's
                # schedule starts.
                campaign_start_samples=4_618_656,
                init_from=str(CHAIN) if CHAIN.exists() else "realtime_mnv2050_320")
