"""Session 52's paired probe, its second arm (issue 21): probe52_real10n.py's run (the same weights,
recipe, length and draws) on pool160_48k_real10s, the same seed-10 heads drawn by renderer version 2
(the HDRI background the right way up, plus --cast-shadows).  Result: dev balanced 6.62% against the
first arm's 6.52% (experiments/results/probe52_shadows.jsonl).

    dlm train experiments/configs/probe52_real10s.py --minutes 20 --campaign-log PATH
"""
from pathlib import Path

from dlm.train.loop import config_dict

# The first arm: this one changes only the name and the pool.
BASE = Path(__file__).with_name("probe52_real10n.py")


def get_config():
    return dict(config_dict(BASE), name="probe52_real10s", pool="pools/pool160_48k_real10s")
