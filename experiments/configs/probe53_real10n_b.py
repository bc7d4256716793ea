"""Session 53's replicate of the paired probe's first arm (issue 21): probe52_real10n.py's run (the
shipped real-time weights, 2,000 steps, pool160_48k_real10n: renderer version 1) with other draws
(data seed 5253).  With probe53_real10v_b.py (the same draws on version 2 without shadows) it says
whether session 52-53's 0.08-point cost of version 2 outlasts a change of draws:
experiments/results/probe53.jsonl.  Result (2026-12-06 14:43-14:53): dev balanced 6.58% (4.90 / 5.97 / 8.87;
inner 51 4.48%, failures 7.5%) against 6.52% for the same run with data seed 5252: the draws alone move it
0.06 points.

    dlm train experiments/configs/probe53_real10n_b.py --minutes 20 --campaign-log PATH
"""
from pathlib import Path

from dlm.train.loop import config_dict

BASE = Path(__file__).with_name("probe52_real10n.py")


def get_config():
    return dict(config_dict(BASE), name="probe53_real10n_b", data_seed=5253)
