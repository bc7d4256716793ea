"""Session 53's replicate of the paired probe's version-2 arm (issue 21): probe53_real10v.py's run
(pool160_48k_real10v: renderer version 2, no cast shadows) with probe53_real10n_b.py's draws (data seed
5253): experiments/results/probe53.jsonl.  Result (2026-12-06 14:53-15:07): dev balanced 6.54% (4.93 /
5.94 / 8.74; inner 51 4.49%, failures 6.5%) against the first arm's 6.58%: version 2 no worse with these
draws, where it was 0.08 worse with seed 5252.

    dlm train experiments/configs/probe53_real10v_b.py --minutes 20 --campaign-log PATH
"""
from pathlib import Path

from dlm.train.loop import config_dict

# The replicate's first arm: this one changes only the name and the pool.
BASE = Path(__file__).with_name("probe53_real10n_b.py")


def get_config():
    return dict(config_dict(BASE), name="probe53_real10v_b", pool="pools/pool160_48k_real10v")
