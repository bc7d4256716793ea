"""The shipped offline network fine-tuned on the two lens pools of real-time campaign 10 (issue 21).

Session 55's paired lens probe lowered the real-time network's dev error on the same heads (6.60 -> 6.50%,
6.54 -> 6.47%), the gain on the photos with glasses; the offline network has never seen a lens.  Session
53's fine-tune recipe (offline_mnv2100_703_ft10n.py: peak 3e-4, 3,000 steps of 32, colour gain sd 0.04,
grey images on 16% of draws) on pool160_48k_real10L2 and pool160_48k_real11L3 (realtime_lenses_320.py
says how they are rendered), other draws.

    dlm train experiments/configs/offline_mnv2100_703_lenses.py --minutes 50 \\
        --campaign-log experiments/results/campaign_offline_mnv2100_703_lenses.jsonl --roi-auto

Ship with `experiments/ship_weights.py ~/.cache/dlm/runs/offline_mnv2100_703_lenses/weights.npz --name offline`
when it beats the shipped network on both gates.
"""
from pathlib import Path

from dlm.train.loop import config_dict

# Session 53's fine-tune: the same start, rate, length and augmentation; this run changes the pools and seed.
BASE = Path(__file__).with_name("offline_mnv2100_703_ft10n.py")


def get_config():
    return dict(config_dict(BASE), name="offline_mnv2100_703_lenses", data_seed=10055,
                pool=["pools/pool160_48k_real10L2", "pools/pool160_48k_real11L3"])
