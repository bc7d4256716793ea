"""Session 56's input-size probe, the other arm: probe55_lenses_b.py's run (the shipped weights, recipe, length,
pool pool160_48k_real10L, data seed 5253; dev 6.47% at 128 px) with the input at 160 px, as
probe56_size160.py is probe55_lenses.py's.  Result: experiments/results/probe56.jsonl.
Result (2026-12-06 22:49-23:07, 63.9 img/s): dev balanced 6.42% (4.82 / 5.78 / 8.67; inner 51 4.37%, failures
7.0%), synthetic 4.13%, against 6.47% (4.84 / 5.85 / 8.73) and 4.24% at 128 px with the same draws.

    dlm train experiments/configs/probe56_size160_b.py --minutes 40 --campaign-log PATH
"""
from pathlib import Path

from dlm.train.loop import config_dict

# probe55_lenses_b.py's run; this one changes only the name and the input size.
BASE = Path(__file__).with_name("probe55_lenses_b.py")


def get_config():
    return dict(config_dict(BASE), name="probe56_size160_b", size=160)
