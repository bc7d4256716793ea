"""Session 55's lens probe, replicate with other draws (data seed 5253): probe53_real10v_b.py's run on
pool160_48k_real10L (probe55_lenses.py renders it).  Control: probe53_real10v_b (dev balanced 6.54%).
Result: experiments/results/probe55.jsonl.
Result (2026-12-06 19:02-19:17, 75.7 img/s): dev balanced 6.47% (4.84 / 5.85 / 8.73; inner 51 4.42%,
failures 6.5%), synthetic 4.24%, against the control's 6.54%.

    dlm train experiments/configs/probe55_lenses_b.py --minutes 20 --campaign-log PATH
"""
from pathlib import Path

from dlm.train.loop import config_dict

# The control: this one changes only the name and the pool.
BASE = Path(__file__).with_name("probe53_real10v_b.py")


def get_config():
    return dict(config_dict(BASE), name="probe55_lenses_b", pool="pools/pool160_48k_real10L")
