"""Session 67's second draw of the jaw-weight probe (network issue, issue 21): probe66_jaw3.py's run (the 17
jaw-line landmarks' Eq. 1 weight 3, the other regions' 1, renormalised to mean 1) on session 64's control draws
(probe64_control.py, data seed 6401) instead of 6402, so that the pair is jaw3b against probe64_control and the two
draws together say whether the jaw weight moves the dev error by more than 200 photos resolve.

    dlm train experiments/configs/probe67_jaw3b.py --minutes 90 \\
        --campaign-log experiments/results/probe67.jsonl --roi-auto

Result (session 67, 2026-12-07 21:19-22:11, 31.6 img/s with other work on the CPU; experiments/results/probe67.jsonl):
dev balanced 6.204% on ground-truth crops against session 64's control on the same draws 6.207% (0-30 / 30-60 / 60-90
degrees 4.69 / 5.85 / 8.07% against 4.78 / 5.84 / 8.00%; inner 51 4.30 against 4.36%; failures 5.5 against 5.0%),
synthetic 4.09 against 4.11%; own face finding 6.492 against 6.785%.  Paired photo by photo against the arms' start
(s160c, `python experiments/paired_probe.py offline ~/.cache/dlm/runs/probe67_jaw3b/weights.npz`,
experiments/results/paired_probe67_jaw3b_gt.json): 6.205 against 6.199%, +0.006 points (95% -0.09 to +0.10), 109
photos better, 91 worse.  Over the two draws the jaw weight moved the dev error by -0.032 and -0.003 points against
its controls: nothing 200 photos resolve; not adopted.
"""
from pathlib import Path

from dlm.train.loop import config_dict

BASE = Path(__file__).with_name("probe64_control.py")


def get_config():
    return dict(config_dict(BASE), name="probe67_jaw3b", region_weights={"jaw": 3.0})
