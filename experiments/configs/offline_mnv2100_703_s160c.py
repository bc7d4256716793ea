"""The 160-px offline network's third fine-tune, on a new pool (network issue, issue 21).

offline_mnv2100_703_s160b.py (the second, from the shipped weights, new draws on the same two lens pools) read the
dev photos at 6.29% on ground-truth crops against the shipped 6.33% and was stopped by the own-face-finding gate.
Its weights and the seed-11 pool were lost with the machine that made them (nothing outside the work tree
outlives a machine), so this run starts again from the shipped weights (2,112,000 samples seen) with the same
recipe (peak 3e-4, 3,000 steps of 32, colour gain sd 0.04, grey images on 16% of draws) on one pool of heads
no shipped network has seen (seed 12, rendered as realtime_lenses_320.py says, with --seed 12):

    dlm synth --pool --num 48000 --size 160 --seed 12 --crop-scale 0.8 --env-light 0.5 \\
        --skin-detail --hair-volume --long-hair --eyelashes --shoulders --beard-volume --natural-light \\
        --lenses --out ~/.cache/dlm/pools/pool160_48k_real12L
    dlm train experiments/configs/offline_mnv2100_703_s160c.py --minutes 75 \\
        --campaign-log experiments/results/campaign_offline_mnv2100_703_s160c.jsonl --roi-auto

Ship with `experiments/ship_weights.py ~/.cache/dlm/runs/offline_mnv2100_703_s160c/weights.npz --name offline`
when it beats the shipped network on both gates.
"""
from pathlib import Path

from dlm.train.loop import config_dict

# The shipped (160-px) run's recipe; this run changes the start, the draws and one of the two pools.
BASE = Path(__file__).with_name("offline_mnv2100_703_s160.py")


def get_config():
    # The shipped weights (the base config's start) have seen 2,112,000 samples: this run's start.
    return dict(config_dict(BASE), name="offline_mnv2100_703_s160c", data_seed=10059,
                pool="pools/pool160_48k_real12L", campaign_start_samples=2_112_000)
