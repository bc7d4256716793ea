"""Session 54's long 96-px run (issue 20 with the network issue): does a real-time network fed 96-px
crops (the network ~0.6x the time per crop of 128 px) reach the 128-px network's accuracy when given
more than a probe's 2,000 steps?  Session 53's probe (probe53_size96.py: the shipped weights, 2,000 steps
at 96 px) reached dev 7.38% against 6.52% at 128 px with the same draws.  This run: the same start (the
shipped real-time weights), campaign 7's recipe (realtime_real9n_320.py: 3e-4 peak, colour gain sd
0.04, grey 16%, pose prior) at 96 px on the two pools campaign 9 draws (version-1 renderer,
pool160_48k_real9n and pool160_48k_real10n), 10,000 steps of 32 (320k samples), dev photos every
2,500 steps.  Not a campaign link: its weights ship only through experiments/ship_weights.py, and the
tracker would take them only if the timing against MediaPipe (experiments/realtime_vs_mediapipe.py
--model) and the dev photos both say so.
    dlm train experiments/configs/probe54_size96_long.py --minutes 60 --campaign-log PATH
Result (2026-12-06, 2-core AMD EPYC: 16:45-16:50 and, resumed from its checkpoint, 17:30-18:04 at 154.7 img/s;
experiments/results/probe54.jsonl): dev balanced 7.26% (inner 51 5.02%, failures 9.5%), synthetic 5.36%, against
7.38% after 2,000 steps (session 53) and the shipped 128-px network's 6.47% (campaign 9, the same pools and recipe at
128 px: 6.60%, synthetic 4.19%).  Five times the steps closed 0.12 of the 0.9 points: the 96-px network stays a
probe, and the tracker's 128-px input stays.
"""
from pathlib import Path

from dlm.train.loop import config_dict

BASE = Path(__file__).with_name("realtime_real9n_320.py")


def get_config():
    return dict(config_dict(BASE), name="probe54_size96_long", size=96, data_seed=5454, steps=10_000,
                warmup_steps=300, eval_every=2_500, campaign=False, campaign_start_samples=0,
                pool=["pools/pool160_48k_real9n", "pools/pool160_48k_real10n"], init_from="realtime_mnv2050_320")
