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
"""
from pathlib import Path

from dlm.train.loop import config_dict

BASE = Path(__file__).with_name("probe65_control.py")


def get_config():
    return dict(config_dict(BASE), name="probe66_identity20", pool="pools/pool160_48k_real13L_id20")
