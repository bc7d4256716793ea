"""Session 55's lens probe (issue 21): do lenses in the glasses' frames (clear, and sunglasses that hide
the eyes) help the photos?  probe53_real10v.py's run (the shipped real-time weights, the same recipe,
length and draws, data seed 5252) on pool160_48k_real10L: the same seed-10 heads as pool160_48k_real10v,
drawn by the same renderer with --lenses, so only the samples with glasses (15%) differ.  Its control:
probe53_real10v (dev balanced 6.60%); the replicate with other draws: probe55_lenses_b.py against
probe53_real10v_b (6.54%).  Result: experiments/results/probe55.jsonl.
Result (2026-12-06 18:49-19:02, 82.6 img/s, pool rendered at a201d30): dev balanced 6.50%
(4.86 / 5.85 / 8.80; inner 51 4.41%, failures 7.5%), synthetic 4.27%, against the control's 6.60%.

    dlm synth --pool --num 48000 --size 160 --seed 10 --crop-scale 0.8 --env-light 0.5 \\
        --skin-detail --hair-volume --long-hair --eyelashes --shoulders --beard-volume --natural-light \\
        --lenses --out ~/.cache/dlm/pools/pool160_48k_real10L
    dlm train experiments/configs/probe55_lenses.py --minutes 20 --campaign-log PATH
"""
from pathlib import Path

from dlm.train.loop import config_dict

# The control: this one changes only the name and the pool.
BASE = Path(__file__).with_name("probe53_real10v.py")


def get_config():
    return dict(config_dict(BASE), name="probe55_lenses", pool="pools/pool160_48k_real10L")
