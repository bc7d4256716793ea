"""Session 67's capacity probe (network issue, issue 21): probe65_control.py's run (the shipped offline network
fine-tuned 3,000 steps of 32 on the seed-13 lens pool, data seed 6402, the same draws) with one residual block more
in each of the 32-, 64-, 96- and 160-channel stages (`mobilenetv2_d21`, 21 blocks for 17, ~20% more operations per
crop).  The new blocks start as the identity (`nets.insert_blocks`), so the run starts exactly where the control
starts (the grown network's output equals the shipped one's: 0.0 px apart on random crops).  Every fine-tune since
session 56 varied the renders or the loss and circled its start; capacity upward is the axis none varied (four
blocks fewer cost the real-time network 0.4 points, synthetic 4.24 -> 4.90%).

    python experiments/grow_network.py dlm/data/weights/offline_703.npz \\
        ~/.cache/dlm/grow/offline_d21.npz --network mobilenetv2_d21
    dlm train experiments/configs/probe67_d21.py --minutes 90 \\
        --campaign-log experiments/results/probe67.jsonl --roi-auto

Result (session 67, 2026-12-07 22:17-23:06, 32.7 img/s with other work on the CPU; experiments/results/probe67.jsonl):
dev balanced 6.193% on ground-truth crops against the control's 6.196% (0-30 / 30-60 / 60-90 degrees 4.68 / 5.78 /
8.11% against 4.69 / 5.78 / 8.12%; inner 51 4.33 against 4.27%; failures 6.5 against 5.5%), own face finding 6.50
against 6.58%, and synthetic 4.06 against 4.05%: the renders it trains on read no better either, so in 96k samples
at the fine-tune's rate the four new blocks were not put to use (their last batch
norm's scale went from 0 to 0.0005-0.004 on average; the old blocks' beside them 0.35-0.46).  Not adopted; a capacity test needs the new
blocks trained for a campaign's length (or a wider network: `nets.widen_blocks`), not a probe's.
"""
from pathlib import Path

from dlm.io.provenance import cache_dir
from dlm.train.loop import config_dict

BASE = Path(__file__).with_name("probe65_control.py")


def get_config():
    return dict(config_dict(BASE), name="probe67_d21", network="mobilenetv2_d21",
                init_from=cache_dir("grow", "offline_d21.npz"))
