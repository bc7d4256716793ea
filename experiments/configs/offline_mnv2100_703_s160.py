"""The shipped offline network fine-tuned at 160-px input (network issue, issue 21).

Session 56's input-size probe (probe56_size160.py and its arm b) took the real-time network from 128 to
160-px crops with everything else paired: dev 6.50 -> 6.46% and 6.47 -> 6.42%, renders 4.27 -> 4.12% and
4.24 -> 4.13%.  The network costs ~1.6x per crop at 160 px, which the photo (offline) path can afford.
This run is the shipped offline network's own fine-tune (offline_mnv2100_703_lenses.py: peak 3e-4,
3,000 steps of 32 on the two lens pools, colour gain sd 0.04, grey images on 16% of draws) from the
shipped offline weights, with the input at 160 px (the pools' own resolution) and new draws.  The
convolutions carry over unchanged; only the feature map grows from 4 x 4 to 5 x 5 cells.

    dlm train experiments/configs/offline_mnv2100_703_s160.py --minutes 75 \\
        --campaign-log experiments/results/campaign_offline_mnv2100_703_s160.jsonl --roi-auto

Ship with `experiments/ship_weights.py ~/.cache/dlm/runs/offline_mnv2100_703_s160/weights.npz --name offline
--new-network` (the input size is new; the gates are the same) when it beats the shipped network on both.

Result (session 57, 2026-12-06 23:24 - 12-07 00:27, 27.3 img/s with other work on the CPU): dev balanced 6.33%
(inner 51 4.37%, failures 7.0%), synthetic 4.12%, against the shipped 6.46% and 4.40%: shipped (own face finding
200 faces against 198, 6.365% against 6.368% on the 198 both find; experiments/results/ship_offline.json).
"""
from pathlib import Path

from dlm.train.loop import config_dict

# The shipped offline network's last fine-tune; this run changes the input size and the draws.
BASE = Path(__file__).with_name("offline_mnv2100_703_lenses.py")


def get_config():
    # The shipped weights have seen 2,016,000 samples (the lens fine-tune's end): this campaign's start.
    return dict(config_dict(BASE), name="offline_mnv2100_703_s160", size=160, data_seed=10057,
                campaign_start_samples=2_016_000)
