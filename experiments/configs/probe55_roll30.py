"""Session 55's roll probe, the other arm (network issue): probe53_real10v.py's run (data seed 5252) with
the training crop rolled up to 30 degrees instead of 12, as probe55_roll30_b.py.  Control: probe53_real10v
(dev balanced 6.60%).  Result: experiments/results/probe55.jsonl.
Result (2026-12-06 20:12-20:25, 78.3 img/s): dev balanced 6.58% (4.80 / 6.11 / 8.83; inner 51 4.43%,
failures 8.0%), synthetic 4.26%, against the control's 6.60%.

    dlm train experiments/configs/probe55_roll30.py --minutes 20 --campaign-log PATH
"""
from pathlib import Path

from dlm.train.loop import config_dict

# The control: this one changes only the name and the crops' roll.
BASE = Path(__file__).with_name("probe53_real10v.py")


def get_config():
    return dict(config_dict(BASE), name="probe55_roll30", crops=dict(roll_deg=30.0))
