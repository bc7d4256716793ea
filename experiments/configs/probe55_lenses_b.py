"""Session 55's lens probe, replicate with other draws (data seed 5253): probe53_real10v_b.py's run on
pool160_48k_real10L (probe55_lenses.py renders it).  Control: probe53_real10v_b (dev balanced 6.54%).
Result: experiments/results/probe55.jsonl.

    dlm train experiments/configs/probe55_lenses_b.py --minutes 20 --campaign-log PATH
"""
from pathlib import Path

from dlm.train.loop import config_dict

# The control: this one changes only the name and the pool.
BASE = Path(__file__).with_name("probe53_real10v_b.py")


def get_config():
    return dict(config_dict(BASE), name="probe55_lenses_b", pool="pools/pool160_48k_real10L")
