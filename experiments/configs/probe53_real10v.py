"""Session 53's probe (issue 21): which of renderer version 2's two changes cost the photos in session
52's paired probe?  probe52_real10n.py's run (the shipped real-time weights, the same recipe, length and
draws) on pool160_48k_real10v: the same seed-10 heads drawn by renderer version 2 (the HDRI background
the right way up) WITHOUT --cast-shadows.  Against the two arms of session 52 (dev balanced 6.52% on
real10n, old renderer; 6.62% on real10s, version 2 with cast shadows):
experiments/results/probe53.jsonl.  Result (2026-12-06 13:51-14:01, 2-core AMD EPYC, 105 img/s): dev
balanced 6.60% (0-30 / 30-60 / 60-90 degrees 4.91 / 5.88 / 9.00%; inner 51 4.49%, failures 7.5%): renderer
version 2's fix (the per-pixel view vector: the HDRI background turned the right way up, and the specular
highlights it places) costs 0.08 points of the 0.10, the cast shadows 0.02 (within two controls' spread).
The replicate with other draws (probe53_real10n_b.py / probe53_real10v_b.py, data seed 5253) reversed it:
version 1 6.58%, version 2 6.54%.  The same recipe moves 0.06 points with the draws alone, so neither pair
separates the renderers: over both, version 2 costs 0.02 points on average, nothing measurable.

    dlm synth --pool --num 48000 --size 160 --seed 10 --crop-scale 0.8 --env-light 0.5 \\
        --skin-detail --hair-volume --long-hair --eyelashes --shoulders --beard-volume --natural-light \\
        --out ~/.cache/dlm/pools/pool160_48k_real10v
    dlm train experiments/configs/probe53_real10v.py --minutes 20 --campaign-log PATH
"""
from pathlib import Path

from dlm.train.loop import config_dict

# The first arm of session 52: this one changes only the name and the pool.
BASE = Path(__file__).with_name("probe52_real10n.py")


def get_config():
    return dict(config_dict(BASE), name="probe53_real10v", pool="pools/pool160_48k_real10v")
