"""Session 65's control arm (network issue, issue 21): probe64_control.py's recipe (the shipped offline network
fine-tuned 3,000 steps of 32 on the seed-13 lens pool, peak 3e-4, cosine) with other draws (data seed 6402), so
that probe65_roll90.py pairs session 64's roll probe again: does its mixed result belong to the feature or to
the draws?

    dlm train experiments/configs/probe65_control.py --minutes 90 \\
        --campaign-log experiments/results/probe65.jsonl --roi-auto
"""
from pathlib import Path

from dlm.train.loop import config_dict

BASE = Path(__file__).with_name("probe64_control.py")


def get_config():
    return dict(config_dict(BASE), name="probe65_control", data_seed=6402)
