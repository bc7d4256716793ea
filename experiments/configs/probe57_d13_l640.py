"""Session 57's pruning probe (issue 20): can the real-time network lose four of its ten residual blocks
and half its last 1 x 1 convolution, and keep its accuracy after a short fine-tune?

The network's time per crop is spread over its layers (session 56's per-layer profile), so the frame's
largest cost shrinks only with the network.  Removing each residual block alone from the shipped weights,
no fine-tune, raised dev balanced NME from 6.47% by 0.7-3.1 points (`python experiments/prune_network.py
dlm/data/weights/realtime_mnv2050_320.npz --sensitivity --json experiments/results/prune_sensitivity.json`:
block 2 8.92%, 4 7.21, 5 8.08, 7 7.84, 8 7.61, 9 7.20, 11 7.79, 12 9.53, 14 8.04, 15 8.20%); the least
harmful in each stage that has them: blocks 4, 9, 11 and 14.  Those four removed together read the dev
photos at 21.6% before any training: the effects do not add, the batch statistics after them shift.
Halving the last 1 x 1 convolution (1280 -> 640 channels, `nets.remove_last_channels`) alone costs nothing
(6.4752% against 6.4748%).  Both together read 21.2%.  This run fine-tunes that network
(`mobilenetv2_050_d13_l640`, 2.65 M parameters less the head's half) with campaign 10's recipe
(realtime_lenses_320.py: peak 3e-4, its pools) for 3,000 steps, new draws (data seed 5701).  The control:
fine-tunes of the full network by this recipe land at 6.46-6.51% (docs/campaigns.md).

    python experiments/prune_network.py dlm/data/weights/realtime_mnv2050_320.npz \\
        ~/.cache/dlm/prune/realtime_d13_l640.npz --network mobilenetv2_050_d13_l640 --remove 4 9 11 14 \\
        --last-channels 640 --pool pools/pool160_48k_real10L2 pools/pool160_48k_real11L3
    dlm train experiments/configs/probe57_d13_l640.py --minutes 30 --campaign-log PATH

Result (session 57, 2026-12-07): dev balanced 7.13% (inner 51 4.90%, failures 7.0%), synthetic 5.20%, against the
shipped 6.475%; the fused frame program 0.81-0.83x the shipped network's on an idle core
(experiments/results/probe57.jsonl, frame_network_ab_s57*.json).
"""
from pathlib import Path

from dlm.io.provenance import cache_dir
from dlm.train.loop import config_dict

# Campaign 10's config; this run changes the network, its start, the length, the warm-up and the draws.
BASE = Path(__file__).with_name("realtime_lenses_320.py")


def get_config():
    # The shipped weights have seen 5,290,656 samples: this probe's schedule starts there.  A network
    # that reads the photos at ~21% is not a trained one: the rate warms up over 300 steps, not 100.
    return dict(config_dict(BASE), name="probe57_d13_l640", network="mobilenetv2_050_d13_l640", data_seed=5701,
                init_from=cache_dir("prune", "realtime_d13_l640.npz"), steps=3000, campaign_start_samples=5_290_656,
                rewarm_steps=300)
