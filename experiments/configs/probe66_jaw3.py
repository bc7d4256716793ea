"""Session 66's jaw-weight probe (network issue, issue 21): probe65_control.py's run (the shipped offline network
fine-tuned 3,000 steps of 32 on the seed-13 lens pool, data seed 6402, the same draws) with the 17 jaw-line
landmarks' loss weight (Eq. 1's lambda_i, `TrainConfig.region_weights`) 3 instead of 1, the other regions'
as before (all renormalised to mean 1).  The jaw is 40% of the translated dev error (experiments/
label_translation.py's parts table) and 17 of the 703 landmarks: does the loss's share move it?

    dlm train experiments/configs/probe66_jaw3.py --minutes 90 \\
        --campaign-log experiments/results/probe66.jsonl --roi-auto

Result (session 66, 2026-12-07 20:27-21:07, 40.2 img/s; the seed-13 lens pool rendered again on this machine;
experiments/results/probe66.jsonl): dev balanced 6.164% on ground-truth crops against the control's 6.196%
(0-30 / 30-60 / 60-90 degrees 4.64 / 5.72 / 8.13% against 4.69 / 5.78 / 8.12%; inner 51 4.27% both; failures 5.5%
both), synthetic 4.08 against 4.05%; own face finding 6.549 against 6.584%.  Paired photo by photo against the
arms' start (s160c, experiments/paired_probe.py): 6.163 against 6.199%, 113 photos better and 87 worse, 95%
interval of the difference -0.15 to +0.06 points.  The largest gain of the session-64-66 probes on ground-truth
crops, and still inside what 200 photos resolve: a candidate to pair again with other draws, not adopted yet.
"""
from pathlib import Path

from dlm.train.loop import config_dict

BASE = Path(__file__).with_name("probe65_control.py")


def get_config():
    return dict(config_dict(BASE), name="probe66_jaw3", region_weights={"jaw": 3.0})
