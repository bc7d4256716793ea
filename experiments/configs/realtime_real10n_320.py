"""The real-time landmark network's eighth campaign: the shipped weights (campaign 7's) on a fresh
pool of campaign 7's kind, in one session (issue 21).

Campaign 7 (realtime_real9n_320.py: natural light colour, colour gain sd 0.04, grey images on 16% of
draws) moved the dev photos 6.54 -> 6.47% in 6,000 steps and shipped.  This campaign asks whether
the same recipe on 48,000 renders the network has never seen (seed 10; every switch of campaign 7's
pool) moves it further, or whether campaign 7's gain came from the new kind and not from new
samples (campaign 6, two fresh pools of a kind already seen, moved 6.54 -> 6.50%).  Like campaign 7
it starts and ends inside one session, so it never depends on files left on a machine.  Draws
follow the pose prior.

    dlm synth --pool --num 48000 --size 160 --seed 10 --crop-scale 0.8 --env-light 0.5 \\
        --skin-detail --hair-volume --long-hair --eyelashes --shoulders --beard-volume --natural-light \\
        --out ~/.cache/dlm/pools/pool160_48k_real10n
    dlm train experiments/configs/realtime_real10n_320.py --minutes 60 \\
        --campaign-log experiments/results/campaign_realtime_real10n_320.jsonl --roi-auto

Ship with experiments/ship_weights.py when the dev photos improve on both gates.
"""
from pathlib import Path

from dlm.io.provenance import REPO_ROOT as REPO
from dlm.train.loop import config_dict

# Campaign 7's config: the same network, recipe, augmentation and length; this one changes the pool,
# seed, start and chain.
BASE = Path(__file__).with_name("realtime_real9n_320.py")
CHAIN = REPO / "experiments" / "results" / "campaign_realtime_real10n_320" / "weights.npz"


def get_config():
    return dict(config_dict(BASE), name="realtime_real10n_320", data_seed=1010,
                pool="pools/pool160_48k_real10n",
                # The shipped weights' samples (campaign 7's end, 5,290,656): where this campaign's
                # schedule starts.
                campaign_start_samples=5_290_656,
                init_from=str(CHAIN) if CHAIN.exists() else "realtime_mnv2050_320")
