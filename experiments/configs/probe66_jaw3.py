"""Session 66's jaw-weight probe (network issue, issue 21): probe65_control.py's run (the shipped offline network
fine-tuned 3,000 steps of 32 on the seed-13 lens pool, data seed 6402, the same draws) with the 17 jaw-line
landmarks' loss weight (Eq. 1's lambda_i, `TrainConfig.region_weights`) 3 instead of 1, the other regions'
as before (all renormalised to mean 1).  The jaw is 40% of the translated dev error (experiments/
label_translation.py's parts table) and 17 of the 703 landmarks: does the loss's share move it?

    dlm train experiments/configs/probe66_jaw3.py --minutes 90 \\
        --campaign-log experiments/results/probe66.jsonl --roi-auto
"""
from pathlib import Path

from dlm.train.loop import config_dict

BASE = Path(__file__).with_name("probe65_control.py")


def get_config():
    return dict(config_dict(BASE), name="probe66_jaw3", region_weights={"jaw": 3.0})
