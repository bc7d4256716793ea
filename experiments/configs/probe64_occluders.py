"""Session 64's occluder probe (network issue, issue 21): probe64_control.py's run (the shipped offline network,
3,000 steps of 32 on the seed-13 lens pool, the same draws) with things in front of the face on 35% of draws:
an oval of another render's texture (skin, hair, clothes or background: hands, sleeves, microphones, cups),
shaded across, over a random landmark, the landmarks under it invisible with their labels kept
(dlm.synth.pool.paste_occluder).  Photographs are full of them (a hand on the chin, a microphone, a friend's
shoulder); no render has had one.

    dlm train experiments/configs/probe64_occluders.py --minutes 90 \\
        --campaign-log experiments/results/probe64.jsonl --roi-auto

Result (session 64, 2026-12-07 14:57-15:33, 44.6 img/s): dev balanced 6.400% on ground-truth crops against the
control's 6.207%, worse in every yaw bin (0-30 / 30-60 / 60-90 degrees 4.96 / 6.07 / 8.17% against 4.78 / 5.84 / 8.00%;
inner 51 4.51 against 4.36%; failures 7.0 against 5.0%), while the renders' held-out error fell a little (4.09 against
4.11%).  Per photo the median lost 0.10 points and 73 of 200 gained; a few occluded or crowded photos gained much
(image03956 21.9 -> 13.0%, image02704 15.9 -> 10.2%), others lost as much (image00491 9.0 -> 20.1%, image00696 11.1 ->
21.6%).  Its own-face-finding figure (6.43% against 6.79%) is not comparable: the face finder's thresholds are the
shipped network's, and occluders change how sure the network is.  Ovals of another render's texture on a third of
the crops teach the network to doubt the face more than they teach it about hands: not adopted in this form (a
smaller share, hand-shaped and skin-lit occluders would be the next form to try).
"""
from pathlib import Path

from dlm.train.loop import config_dict

BASE = Path(__file__).with_name("probe64_control.py")


def get_config():
    return dict(config_dict(BASE), name="probe64_occluders", crops=dict(occluder_prob=0.35))
