"""Session 57: the real-time network with a quarter of its last 1 x 1 convolution (1280 -> 320 channels),
fine-tuned (issue 20).

probe57_l640.py halves the last convolution at no cost before training (6.4752% against 6.4748%); the
tracked frame's fused program then takes 0.88x the shipped network's time (`experiments/frame_network_ab.py`,
session 57, training sharing the CPU), and a 320-channel one (random weights, the same timing) ~0.77x; on an
idle core (measured after this run) 1.00x and 0.91-0.97x.
Kept the 320 channels that move the landmark head most (79% of the importance), the rest folded into the
head's bias, the dev photos read 7.11% before training.  This run fine-tunes it (`mobilenetv2_050_l320`)
with probe57_l640.py's recipe (campaign 10's, 2,000 steps), other draws (data seed 5703).

    python experiments/prune_network.py dlm/data/weights/realtime_mnv2050_320.npz \\
        ~/.cache/dlm/prune/realtime_l320.npz --network mobilenetv2_050_l320 --last-channels 320 \\
        --pool pools/pool160_48k_real10L2 pools/pool160_48k_real11L3
    dlm train experiments/configs/probe57_l320.py --minutes 25 --campaign-log PATH

Result (session 57, 2026-12-07, 84.8 img/s): dev balanced 6.53% (inner 51 4.50%, failures 7.0%), synthetic 4.45%,
against the shipped 6.475% (experiments/results/probe57.jsonl).
"""
from pathlib import Path

from dlm.io.provenance import cache_dir
from dlm.train.loop import config_dict

# Campaign 10's config; this run changes the network, its start, the length and the draws.
BASE = Path(__file__).with_name("realtime_lenses_320.py")


def get_config():
    # The shipped weights have seen 5,290,656 samples: this probe's schedule starts there.  A network
    # that reads the photos at 7.1% has more to learn than a fine-tune: the rate warms up over 300 steps.
    return dict(config_dict(BASE), name="probe57_l320", network="mobilenetv2_050_l320", data_seed=5703,
                init_from=cache_dir("prune", "realtime_l320.npz"), steps=2000, campaign_start_samples=5_290_656,
                rewarm_steps=300)
