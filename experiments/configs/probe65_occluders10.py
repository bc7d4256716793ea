"""Session 65's occluder probe, smaller and rarer (network issue, issue 21): probe65_control.py's run (data
seed 6402, the same draws) with things in front of the face on a tenth of the crops instead of 35%, each
smaller (long axis 0.15-0.35 of the face's half side instead of 0.2-0.55).  Session 64's version
(probe64_occluders.py) read the dev photos worse in every yaw bin (6.400% against its control's 6.207%); its
note asked for a smaller share of smaller occluders before giving up on the kind.

    dlm train experiments/configs/probe65_occluders10.py --minutes 90 \\
        --campaign-log experiments/results/probe65.jsonl --roi-auto

Result (session 65, 2026-12-07 17:48-18:24, 45.7 img/s): dev balanced 6.207% on ground-truth crops against the
control's 6.196% (0-30 / 30-60 / 60-90 degrees 4.69 / 5.84 / 8.09% against 4.69 / 5.78 / 8.12%; inner 51 4.33
against 4.27%; failures 6.5 against 5.5%), synthetic 4.06 against 4.05%.  Smaller and rarer, the occluders cost
less than session 64's (+0.19 points) and still do not help the photos: not adopted in this form either.
"""
from pathlib import Path

from dlm.train.loop import config_dict

BASE = Path(__file__).with_name("probe65_control.py")


def get_config():
    return dict(config_dict(BASE), name="probe65_occluders10", crops=dict(occluder_prob=0.1, occluder_size=(0.15, 0.35)))
