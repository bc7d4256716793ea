"""Session 52's paired probe (issue 21): the shipped real-time weights (campaign 7's), 2,000 steps of
campaign 7's recipe from a fresh schedule, the same draws (data seed 5252) on two pools of the same
seed-10 heads: pool160_48k_real10n (renderer version 1) and pool160_48k_real10s (renderer version 2,
the HDRI background the right way up, plus --cast-shadows).  Result (2026-12-06, 2-core AMD EPYC):
dev balanced 6.52% on real10n, 6.62% on real10s (inner 51 4.42 / 4.51%, failures 7.5 / 8.5%); record
in experiments/results/probe52_shadows.jsonl.

    dlm train experiments/configs/probe52_real10n.py --minutes 20 --campaign-log PATH
"""
from pathlib import Path

from dlm.train.loop import config_dict

BASE = Path(__file__).with_name("realtime_real9n_320.py")


def get_config():
    return dict(config_dict(BASE), name="probe52_real10n", data_seed=5252, steps=2000, warmup_steps=100, eval_every=2000,
                pool="pools/pool160_48k_real10n", campaign=False, campaign_start_samples=0, init_from="realtime_mnv2050_320")
