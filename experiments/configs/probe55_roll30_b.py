"""Session 55's roll probe (network issue): faces turned far about the camera's axis (a head lying on a
pillow, a tilted selfie) are among the dev photos' worst (image03123 35% NME, image00204 14%), and the
pools' heads roll at most ~57 degrees (head 30, crop 15, training 12).  probe53_real10v_b.py's run (the
shipped real-time weights, pool160_48k_real10v, data seed 5253) with the training crop rolled up to 30
degrees instead of 12.  Control: probe53_real10v_b (dev balanced 6.54%).  Result:
experiments/results/probe55.jsonl.
Result (2026-12-06 19:17-19:30, 87.5 img/s): dev balanced 6.48% (4.82 / 5.87 / 8.74; inner 51 4.39%,
failures 6.5%), synthetic 4.40%, against the control's 6.54%.

    dlm train experiments/configs/probe55_roll30_b.py --minutes 20 --campaign-log PATH
"""
from pathlib import Path

from dlm.train.loop import config_dict

# The control: this one changes only the name and the crops' roll.
BASE = Path(__file__).with_name("probe53_real10v_b.py")


def get_config():
    return dict(config_dict(BASE), name="probe55_roll30_b", crops=dict(roll_deg=30.0))
