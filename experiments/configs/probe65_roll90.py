"""Session 65's roll probe (network issue, issue 21): probe65_control.py's run (data seed 6402, the same draws)
with a tenth of the crops rolled within +-90 degrees instead of +-12 (CropRanges.roll_tail_prob), the
feature session 64 probed with data seed 6401 (probe64_roll90.py: 6.248% against its control's 6.207%, the
rolled photos better and two profiles worse).

    dlm train experiments/configs/probe65_roll90.py --minutes 90 \\
        --campaign-log experiments/results/probe65.jsonl --roi-auto
"""
from pathlib import Path

from dlm.train.loop import config_dict

BASE = Path(__file__).with_name("probe65_control.py")


def get_config():
    return dict(config_dict(BASE), name="probe65_roll90", crops=dict(roll_tail_prob=0.1, roll_tail_deg=90.0))
