"""Session 64's roll probe (network issue, issue 21): probe64_control.py's run (the shipped offline network,
3,000 steps of 32 on the seed-13 lens pool, the same draws) with a tenth of the crops rolled within +-90
degrees instead of +-12 (CropRanges.roll_tail_prob).  The worst dev photo for the shipped network (image03123,
49.7% NME on ground-truth crops, AFLW2000-3D's 68) is a head lying on a pillow, about 90 degrees of roll;
renders roll +-15 and crops +-12 more, so no training sample has looked like it.

    dlm train experiments/configs/probe64_roll90.py --minutes 90 \\
        --campaign-log experiments/results/probe64.jsonl --roi-auto

Result (session 64, 2026-12-07 14:22-14:57, 47.5 img/s): dev balanced 6.248% on ground-truth crops against the
control's 6.207% (0-30 / 30-60 / 60-90 degrees 4.72 / 5.74 / 8.29% against 4.78 / 5.84 / 8.00%; inner 51 4.32 against
4.36%; failures 4.5 against 5.0%), synthetic 4.18 against 4.11%; own face finding 6.724% against 6.785% (199 of 200
found against 200).  The head on the pillow (image03123) 54.1 -> 44.8%, and rolled faces gained (image04243 10.6 ->
6.5%, image00204 8.0 -> 5.2%, image02704 15.9 -> 12.4%), while two profiles lost (image02156, a sculpted mask, 18.7 ->
23.0%; image04299, a green-cast profile, 14.9 -> 18.0%), which the profile bin's 35 photos turn into +0.29 points
there and +0.04 overall.  Per photo: 99 better, 101 worse, median +0.002 points (ICT's 68 untranslated).  Mixed: the
rolled photos it is for gained, the balanced figure did not; another pair with other draws would say whether the
profiles' loss is the feature or the draws.
"""
from pathlib import Path

from dlm.train.loop import config_dict

BASE = Path(__file__).with_name("probe64_control.py")


def get_config():
    return dict(config_dict(BASE), name="probe64_roll90", crops=dict(roll_tail_prob=0.1, roll_tail_deg=90.0))
