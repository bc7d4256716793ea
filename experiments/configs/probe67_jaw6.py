"""Session 67's jaw-weight dose probe (network issue, issue 21): probe66_jaw3.py's run (probe65_control.py's draws,
data seed 6402) with the 17 jaw-line landmarks' Eq. 1 weight 6 instead of 3 (the other regions' 1, renormalised
to mean 1).  Weight 3 moved the dev error by -0.03 points on each of two draws, less than 200 photos resolve; if
the loss's share of the jaw is what moves it, twice the weight moves it further, and a dose response is evidence
that single small differences are not.

    dlm train experiments/configs/probe67_jaw6.py --minutes 90 \\
        --campaign-log experiments/results/probe67.jsonl --roi-auto
"""
from pathlib import Path

from dlm.train.loop import config_dict

BASE = Path(__file__).with_name("probe66_jaw3.py")


def get_config():
    return dict(config_dict(BASE), name="probe67_jaw6", region_weights={"jaw": 6.0})
