"""Session 65's roll probe (network issue, issue 21): probe65_control.py's run (data seed 6402, the same draws)
with a tenth of the crops rolled within +-90 degrees instead of +-12 (CropRanges.roll_tail_prob), the
feature session 64 probed with data seed 6401 (probe64_roll90.py: 6.248% against its control's 6.207%, the
rolled photos better and two profiles worse).

    dlm train experiments/configs/probe65_roll90.py --minutes 90 \\
        --campaign-log experiments/results/probe65.jsonl --roi-auto

Result (session 65, 2026-12-07 17:02-17:46, 36.6 img/s): dev balanced 6.206% on ground-truth crops against the
control's 6.196% (0-30 / 30-60 / 60-90 degrees 4.70 / 5.74 / 8.17% against 4.69 / 5.78 / 8.12%; inner 51 4.27%
either way; failures 5.0 against 5.5%), synthetic 4.13 against 4.05%.  Per photo 93 better, 107 worse, median
+0.015 points; the rolled photos gained again (the head on the pillow image03123 54.5 -> 42.4%, image00204 9.7 ->
5.2%, image00491 11.4 -> 8.7%, image02704 13.4 -> 11.9%) and the sculpted mask lost again (image02156 17.5 ->
23.7%), with image03956 10.0 -> 14.4%.  With session 64's pair (+0.041 points) the feature costs the balanced figure
0.01-0.04 points on two sets of draws while it mends the few rolled photos: not adopted for the offline campaigns
(dlm's own face finding turns crops upright by the eye line before the network sees them).
"""
from pathlib import Path

from dlm.train.loop import config_dict

BASE = Path(__file__).with_name("probe65_control.py")


def get_config():
    return dict(config_dict(BASE), name="probe65_roll90", crops=dict(roll_tail_prob=0.1, roll_tail_deg=90.0))
