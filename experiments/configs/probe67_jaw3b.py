"""Session 67's second draw of the jaw-weight probe (network issue, issue 21): probe66_jaw3.py's run (the 17
jaw-line landmarks' Eq. 1 weight 3, the other regions' 1, renormalised to mean 1) on session 64's control draws
(probe64_control.py, data seed 6401) instead of 6402, so that the pair is jaw3b against probe64_control and the two
draws together say whether the jaw weight moves the dev error by more than 200 photos resolve.

    dlm train experiments/configs/probe67_jaw3b.py --minutes 90 \\
        --campaign-log experiments/results/probe67.jsonl --roi-auto
"""
from pathlib import Path

from dlm.train.loop import config_dict

BASE = Path(__file__).with_name("probe64_control.py")


def get_config():
    return dict(config_dict(BASE), name="probe67_jaw3b", region_weights={"jaw": 3.0})
