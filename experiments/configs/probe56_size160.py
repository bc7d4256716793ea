"""Session 56's input-size probe (network issue): does the real-time network gain from 160-px crops?
Thirteen fine-tunes at 128 px from the shipped weights average to the shipped network (weight soups,
docs/campaigns.md): the recipe has converged at this input.  At 96 px the network lost 0.7-0.9 points
that 10,000 steps did not win back (probe53_size96.py, probe54_size96_long.py), while the detail probe
found the shipped network loses only 0.08 points when its 128-px crops carry 64 px of detail: what the
smaller input cost was the feature map's grid (3 x 3 cells at 96 px, 4 x 4 at 128), not the pixels.  At
160 px the grid is 5 x 5 and the pools' renders (160 px) are seen at their own resolution.  This is
probe55_lenses.py's run (the shipped weights, recipe, length, pool pool160_48k_real10L and draws, data
seed 5252; dev 6.50% at 128 px) with the input at 160 px; the network costs ~1.6x per crop, so a gain
here is for the offline (photo) network first.  Result: experiments/results/probe56.jsonl.
Result (2026-12-06 22:22-22:45, 46.6 img/s with the CPU shared with shipping the offline network): dev balanced
6.46% (inner 51 4.40%, failures 6.0%), synthetic 4.12%, against 6.50% and 4.27% at 128 px with the same draws.

    dlm train experiments/configs/probe56_size160.py --minutes 40 --campaign-log PATH
"""
from pathlib import Path

from dlm.train.loop import config_dict

# probe55_lenses.py's run; this one changes only the name and the input size.
BASE = Path(__file__).with_name("probe55_lenses.py")


def get_config():
    return dict(config_dict(BASE), name="probe56_size160", size=160)
