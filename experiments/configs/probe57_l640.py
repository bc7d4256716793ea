"""Session 57: the real-time network with half its last 1 x 1 convolution (1280 -> 640 channels), fine-tuned
(issue 20).

Only 692 of the shipped network's 1280 last channels vary over training draws by more than 1e-3; keeping
the 640 that move the landmark head most and folding the rest into the head's bias
(`experiments/prune_network.py --last-channels 640`) leaves the dev photos at 6.4752% against 6.4748%
before any training, and halves the head's 1280 x 960 matrix, half the network's weights.  This run
fine-tunes that network (`mobilenetv2_050_l640`) as the lens probes fine-tuned the full one (campaign 10's
recipe, 2,000 steps, new draws: data seed 5702), so the head settles on its narrower input.

    python experiments/prune_network.py dlm/data/weights/realtime_mnv2050_320.npz \\
        ~/.cache/dlm/prune/realtime_l640.npz --network mobilenetv2_050_l640 --last-channels 640 \\
        --pool pools/pool160_48k_real10L2 pools/pool160_48k_real11L3
    dlm train experiments/configs/probe57_l640.py --minutes 25 --campaign-log PATH

Result (session 57, 2026-12-07 00:28-00:43, 83.3 img/s with the offline network's ship checks on the CPU): dev
balanced 6.56% (inner 51 4.41%, failures 7.0%), synthetic 4.27%: the fine-tune moved it from 6.4752% the wrong way
(experiments/results/probe57.jsonl).
"""
from pathlib import Path

from dlm.io.provenance import cache_dir
from dlm.train.loop import config_dict

# Campaign 10's config; this run changes the network, its start, the length and the draws.
BASE = Path(__file__).with_name("realtime_lenses_320.py")


def get_config():
    # The shipped weights have seen 5,290,656 samples: this probe's schedule starts there.
    return dict(config_dict(BASE), name="probe57_l640", network="mobilenetv2_050_l640", data_seed=5702,
                init_from=cache_dir("prune", "realtime_l640.npz"), steps=2000, campaign_start_samples=5_290_656)
