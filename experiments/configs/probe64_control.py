"""Session 64's occluder probe, control arm (network issue, issue 21): the shipped offline network (s160c)
fine-tuned 3,000 steps of 32 on the seed-13 lens pool with the shipped recipe (peak 3e-4, cosine), no occluders.
Its pair, probe64_occluders.py, draws the same samples and adds things in front of the face.

    dlm train experiments/configs/probe64_control.py --minutes 90 \\
        --campaign-log experiments/results/probe64.jsonl --roi-auto

Result (session 64, 2026-12-07 13:19-14:22, 25.6 img/s with the session's other work on the CPU;
experiments/results/probe64.jsonl): dev balanced 6.207% on ground-truth crops (0-30 / 30-60 / 60-90 degrees
4.78 / 5.84 / 8.00%, inner 51 4.36%, failures 5.0%), synthetic 4.11%; with dlm's own face finding 6.785% (200 of 200
found).  The shipped s160c reads 6.199%: the recipe on new draws circles its start, as s160d/e did.
"""
from pathlib import Path

from dlm.train.loop import config_dict

BASE = Path(__file__).with_name("offline_mnv2100_703_s160c.py")


def get_config():
    # init_from: the base config's start, the shipped offline weights (s160c itself since session 62).
    return dict(config_dict(BASE), name="probe64_control", data_seed=6401, steps=3000, eval_every=1500,
                campaign=False, campaign_start_samples=0, pool="pools/pool160_48k_real13L")
