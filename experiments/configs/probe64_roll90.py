"""Session 64's roll probe (network issue, issue 21): probe64_control.py's run (the shipped offline network,
3,000 steps of 32 on the seed-13 lens pool, the same draws) with a tenth of the crops rolled within +-90
degrees instead of +-12 (CropRanges.roll_tail_prob).  The worst dev photo for the shipped network (image03123,
49.7% NME on ground-truth crops, AFLW2000-3D's 68) is a head lying on a pillow, about 90 degrees of roll;
renders roll +-15 and crops +-12 more, so no training sample has looked like it.

    dlm train experiments/configs/probe64_roll90.py --minutes 90 \\
        --campaign-log experiments/results/probe64.jsonl --roi-auto
"""
from pathlib import Path

from dlm.train.loop import config_dict

BASE = Path(__file__).with_name("probe64_control.py")


def get_config():
    return dict(config_dict(BASE), name="probe64_roll90", crops=dict(roll_tail_prob=0.1, roll_tail_deg=90.0))
