"""Session 55's lens probe, second renderer (issue 21): probe55_lenses.py's run (probe53_real10v's recipe
and draws, data seed 5252) on pool160_48k_real10L2: the same seed-10 heads drawn with lenses version 2
(72ba8ca: sunglasses larger, darker, heavier-framed and more reflective, as docs/synth_lenses.jpg showed the
dev photos' to be).  Controls: probe53_real10v (no lenses, 6.60%) and probe55_lenses (lenses version 1).
Result: experiments/results/probe55.jsonl.
Result (2026-12-06 19:55-20:09, 85.1 img/s): dev balanced 6.51% (4.81 / 5.88 / 8.85; inner 51 4.40%,
failures 6.5%), synthetic 4.35%, against version 1's 6.50% and the control's 6.60%.

    dlm synth --pool --num 48000 --size 160 --seed 10 --crop-scale 0.8 --env-light 0.5 \\
        --skin-detail --hair-volume --long-hair --eyelashes --shoulders --beard-volume --natural-light \\
        --lenses --out ~/.cache/dlm/pools/pool160_48k_real10L2
    dlm train experiments/configs/probe55_lenses2.py --minutes 20 --campaign-log PATH
"""
from pathlib import Path

from dlm.train.loop import config_dict

# The control: this one changes only the name and the pool.
BASE = Path(__file__).with_name("probe53_real10v.py")


def get_config():
    return dict(config_dict(BASE), name="probe55_lenses2", pool="pools/pool160_48k_real10L2")
