"""Session 64's occluder probe, control arm (network issue, issue 21): the shipped offline network (s160c)
fine-tuned 3,000 steps of 32 on the seed-13 lens pool with the shipped recipe (peak 3e-4, cosine), no occluders.
Its pair, probe64_occluders.py, draws the same samples and adds things in front of the face.

    dlm train experiments/configs/probe64_control.py --minutes 90 \\
        --campaign-log experiments/results/probe64.jsonl --roi-auto
"""
from pathlib import Path

from dlm.train.loop import config_dict

BASE = Path(__file__).with_name("offline_mnv2100_703_s160c.py")


def get_config():
    # init_from: the base config's start, the shipped offline weights (s160c itself since session 62).
    return dict(config_dict(BASE), name="probe64_control", data_seed=6401, steps=3000, eval_every=1500,
                campaign=False, campaign_start_samples=0, pool="pools/pool160_48k_real13L")
