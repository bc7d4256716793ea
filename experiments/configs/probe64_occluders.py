"""Session 64's occluder probe (network issue, issue 21): probe64_control.py's run (the shipped offline network,
3,000 steps of 32 on the seed-13 lens pool, the same draws) with things in front of the face on 35% of draws:
an oval of another render's texture (skin, hair, clothes or background: hands, sleeves, microphones, cups),
shaded across, over a random landmark, the landmarks under it invisible with their labels kept
(dlm.synth.pool.paste_occluder).  Photographs are full of them (a hand on the chin, a microphone, a friend's
shoulder); no render has had one.

    dlm train experiments/configs/probe64_occluders.py --minutes 90 \\
        --campaign-log experiments/results/probe64.jsonl --roi-auto
"""
from pathlib import Path

from dlm.train.loop import config_dict

BASE = Path(__file__).with_name("probe64_control.py")


def get_config():
    return dict(config_dict(BASE), name="probe64_occluders", crops=dict(occluder_prob=0.35))
