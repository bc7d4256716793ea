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
"""
from pathlib import Path

from dlm.io.provenance import cache_dir
from dlm.train.loop import config_dict

BASE = Path(__file__).with_name("probe65_control.py")


def get_config():
    return dict(config_dict(BASE), name="probe67_d21", network="mobilenetv2_d21",
                init_from=cache_dir("grow", "offline_d21.npz"))
