"""Session 65's control arm (network issue, issue 21): probe64_control.py's recipe (the shipped offline network
fine-tuned 3,000 steps of 32 on the seed-13 lens pool, peak 3e-4, cosine) with other draws (data seed 6402), so
that probe65_roll90.py pairs session 64's roll probe again: does its mixed result belong to the feature or to
the draws?

    dlm train experiments/configs/probe65_control.py --minutes 90 \\
        --campaign-log experiments/results/probe65.jsonl --roi-auto

Result (session 65, 2026-12-07 15:50-17:02, 22.8 img/s with the session's other work and two stops of the CPU
for timing; experiments/results/probe65.jsonl): dev balanced 6.196% on ground-truth crops (0-30 / 30-60 / 60-90
degrees 4.69 / 5.78 / 8.12%, inner 51 4.27%, failures 5.5%), synthetic 4.05%; own face finding 6.584% (200 of 200).
Session 64's control (data seed 6401) 6.207%, the shipped s160c 6.199%: the draws move the recipe by ~0.01 points.
"""
from pathlib import Path

from dlm.train.loop import config_dict

BASE = Path(__file__).with_name("probe64_control.py")


def get_config():
    return dict(config_dict(BASE), name="probe65_control", data_seed=6402)
