"""The offline network's second fine-tune at 160-px input (network issue, issue 21).

offline_mnv2100_703_s160.py took the shipped offline network from 128 to 160 px in 3,000 steps and shipped
(dev 6.46 -> 6.33%).  This run continues from those weights with the same recipe (peak 3e-4, 3,000 steps of
32 on the two lens pools, colour gain sd 0.04, grey images on 16% of draws) and new draws (data seed 10058),
to see whether the new input size has more to give.  Started at the end of session 57 for the next session.

    dlm train experiments/configs/offline_mnv2100_703_s160b.py --minutes 75 \\
        --campaign-log experiments/results/campaign_offline_mnv2100_703_s160b.jsonl --roi-auto

Ship with `experiments/ship_weights.py ~/.cache/dlm/runs/offline_mnv2100_703_s160b/weights.npz --name offline`
when it beats the shipped network on both gates.

Result (session 58, 2026-12-07 01:56-02:57, 27.1 img/s): dev balanced 6.29% on ground-truth crops (inner 51 4.35%,
failures 6.0%), synthetic 4.10%, against the shipped 6.33% and 4.12%; not shipped: with dlm's own face finding it
found 199 faces against 200 (image00392 read at over 50% NME) and on the 199 both find 6.45% against 6.37%
(experiments/results/ship_offline_rejected.json).
"""
from pathlib import Path

from dlm.train.loop import config_dict

# The shipped (160-px) run's recipe; this run changes the draws and the chain's start.
BASE = Path(__file__).with_name("offline_mnv2100_703_s160.py")


def get_config():
    # The shipped weights have seen 2,112,000 samples (the 160-px fine-tune's end): this run's start.
    return dict(config_dict(BASE), name="offline_mnv2100_703_s160b", data_seed=10058,
                campaign_start_samples=2_112_000)
