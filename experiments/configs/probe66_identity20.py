"""Session 66's identity-spread probe (network issue, issue 21): probe65_control.py's run (the shipped offline
network fine-tuned 3,000 steps of 32, data seed 6402, the same draws) on the seed-13 lens pool rendered again
with each head's identity coefficients drawn with a standard deviation uniform in 1..2 instead of 1: the same
heads, poses, looks and crops, the faces' shapes up to twice as far from ICT's mean face.  The jaw is 40% of the
translated dev error (experiments/label_translation.py's parts table); ICT's identity space is a PCA of a limited
set of scans, and the photos' faces (heavy, thin, old, round-jawed) may stray further from its mean.

    dlm synth --pool --num 48000 --size 160 --seed 13 --crop-scale 0.8 --env-light 0.5 \\
        --skin-detail --hair-volume --long-hair --eyelashes --shoulders --beard-volume --natural-light \\
        --lenses --identity-sd 2.0 --out ~/.cache/dlm/pools/pool160_48k_real13L_id20
    dlm train experiments/configs/probe66_identity20.py --minutes 90 \\
        --campaign-log experiments/results/probe66.jsonl --roi-auto

Result (session 66, 2026-12-07 19:14-20:17 on a new machine, 24.9 img/s with the session's other work and pauses
for timing; experiments/results/probe66.jsonl): dev balanced 6.195% on ground-truth crops against the control's
6.196% (0-30 / 30-60 / 60-90 degrees 4.70 / 5.79 / 8.09% against 4.69 / 5.78 / 8.12%; inner 51 4.34 against 4.27%;
failures 6.0 against 5.5%), synthetic 4.09 against 4.05%: the landmarks on ground-truth crops do not move.  With
dlm's own face finding 6.218% against the control's 6.584%, but that figure spreads 6.43-6.85% over the five
earlier arms, and paired photo by photo against the start (the shipped s160c, experiments/paired_probe.py
--roi auto) it reads 6.218 against 6.215% (95% interval of the difference -0.26 to +0.28 points): the
control's own-face figure is the one that moved.  Not adopted on this evidence; the control's weights (lost with
session 65's machine) would pair the own-face figure photo by photo.
"""
from pathlib import Path

from dlm.train.loop import config_dict

BASE = Path(__file__).with_name("probe65_control.py")


def get_config():
    return dict(config_dict(BASE), name="probe66_identity20", pool="pools/pool160_48k_real13L_id20")
