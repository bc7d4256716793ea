"""Probe (issue 20): the shipped real-time network fine-tuned to 96 px input, for a faster frame.

`dlm bench predictor` on the 2-core AMD EPYC (one pinned core, 2026-12-05): 0.86-0.94 ms at 128 px,
0.57 ms at 96 px; but the shipped weights read 96 px crops badly without training (dev photos
29.91% balanced NME against 6.54% at 128 px).  This probe trains them 3,000 steps (96k samples) at
96 px on campaign 5's kind of pool (seed 6, shared with the offline campaign's third session), pose
prior on, a short warm-up and a cosine from 3e-4.  It answers one question: how much of the dev
accuracy does a 96 px network keep for its ~35% shorter CNN time?  If it lands within ~0.3 points
of 6.54%, a full 96 px campaign and `ship_weights.py` follow; if not, the frame budget is found
elsewhere (fewer LM iterations, the fit's Jacobian).

Result (session 44, 2026-12-05, 2-core AMD EPYC, 3,000 steps in 17 min at 93 img/s): dev photos 7.44%
balanced (inner 51 5.08%, failures 9.5%), own ROI 7.87%, synthetic 5.59%, against 6.54% at 128 px:
0.9 points lost, over the bar; not continued (experiments/results/probe_realtime96_real6_320.jsonl).

    dlm synth --pool --num 48000 --size 160 --seed 6 --crop-scale 0.8 --env-light 0.5 \\
        --skin-detail --hair-volume --long-hair --eyelashes --shoulders --out ~/.cache/dlm/pools/pool160_48k_real6
    dlm train experiments/configs/realtime96_real6_320.py --minutes 30 --roi-auto \\
        --campaign-log experiments/results/probe_realtime96_real6_320.jsonl
    dlm bench predictor --model ~/.cache/dlm/runs/realtime96_real6_320/weights.npz --json ...
"""
from pathlib import Path

from dlm.train.loop import config_dict

BASE = Path(__file__).with_name("realtime_real5_320.py")


def get_config():
    return dict(config_dict(BASE), name="realtime96_real6_320", size=96, pool="pools/pool160_48k_real6",
                data_seed=606, steps=3_000, lr=3e-4, warmup_steps=100, eval_every=1000,
                # A probe, not a campaign: its own schedule from the shipped weights.
                campaign=False, campaign_start_samples=0, init_from="realtime_mnv2050_320")
