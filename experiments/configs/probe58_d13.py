"""Session 58's depth probe, a campaign over two sessions (issue 20): the real-time network less four of its ten
residual blocks (blocks 4, 9, 11, 14; `mobilenetv2_050_d13`), its last convolution whole, fine-tuned for 12,000
steps (384k samples) instead of session 57's 3,000.

Four blocks less is what buys time on a quiet core (the fused frame program 0.81-0.83x the shipped network's,
session 57, with the last convolution halved as well; the head's width costs nothing there), but after 3,000 steps
that network read the dev photos at 7.13% against the shipped 6.475%.  This run asks whether the gap closes with
four times the samples.  The start is the shipped weights with the four blocks removed:

    python experiments/prune_network.py dlm/data/weights/realtime_mnv2050_320.npz \\
        ~/.cache/dlm/prune/realtime_d13.npz --network mobilenetv2_050_d13 --remove 4 9 11 14
    dlm train experiments/configs/probe58_d13.py --minutes 30 --campaign-log experiments/results/probe58.jsonl

The same command resumes it from its last checkpoint (every 250 steps) in the next session; the schedule is the
campaign's (12,000 steps), whatever each session's minutes.

Halfway (session 58, 2026-12-07 03:41-04:11, 6,000 steps at 108 img/s, the rate still 1.6e-4 of its 3e-4 peak): dev
balanced 7.01% (inner 51 4.96%, failures 8.5%), synthetic 5.61%, against session 57's 3,000-step probe with the
last convolution halved as well (7.13% at the end of its schedule) and the shipped 6.475%
(experiments/results/probe58.jsonl).

Result (session 59, 2026-12-07 04:25-05:05, resumed from step 6,000, 79.6 img/s with other work on the CPU): dev
balanced 6.88% (inner 51 4.79%, failures 7.5%), synthetic 4.90%, against the shipped 6.475% (synthetic 4.24%).
Twice the steps of the halfway point took 0.13 of the 0.54 points; the rate is spent.  Four blocks less costs the
network capacity (synthetic 4.90% against 4.24% on renders it trains on), not samples: the depth cut does not ship,
and the real-time network's time must come from elsewhere (issue 20).
"""
from pathlib import Path

from dlm.io.provenance import cache_dir
from dlm.train.loop import config_dict

# Campaign 10's config; this run changes the network, its start, the length, the warm-up and the draws.
BASE = Path(__file__).with_name("realtime_lenses_320.py")


def get_config():
    # The shipped weights have seen 5,290,656 samples: this campaign's schedule starts there.  A network that
    # reads the photos at over 20% is not a trained one: the rate warms up over 300 steps, not 100.
    return dict(config_dict(BASE), name="probe58_d13", network="mobilenetv2_050_d13", data_seed=5801,
                init_from=cache_dir("prune", "realtime_d13.npz"), steps=12000, campaign_start_samples=5_290_656,
                rewarm_steps=300)
