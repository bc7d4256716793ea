"""The shipped offline network fine-tuned in one session on renders it has never seen (issue 21).

The offline network's first campaign (offline_mnv2100_703.py) ended at dev 6.50% balanced, shipped;
its last 7,900 steps at rates 1.0e-4 to 2e-5 moved the photos 0.03 points.  The second campaign
(offline_mnv2100_703_c2.py) restarted it at 5e-4 and stood at 6.68-6.71% after 8,615 steps when its
machine was lost.  This run asks what a short, low-rate pass over new samples gives instead, in a
form that survives a lost machine: the pool rendered at the session's start (seed 9, the latest
kind: every switch plus natural light), the shipped weights, a 300-step warm-up to 1e-4 and a
cosine over 3,000 steps (96k samples, ~35 min on the project's 2-core CPU), grey images on 16% of
draws and the colour gain at sd 0.04 as the campaigns' last sessions.

    dlm synth --pool --num 48000 --size 160 --seed 9 --crop-scale 0.8 --env-light 0.5 \\
        --skin-detail --hair-volume --long-hair --eyelashes --shoulders --beard-volume --natural-light \\
        --out ~/.cache/dlm/pools/pool160_48k_real9n
    dlm train experiments/configs/offline_mnv2100_703_ft9n.py --minutes 45 \\
        --campaign-log experiments/results/campaign_offline_mnv2100_703_ft9n.jsonl --roi-auto

Ship with `experiments/ship_weights.py ~/.cache/dlm/runs/offline_mnv2100_703_ft9n/weights.npz --name offline`
when it beats the shipped network on both gates.
"""
from pathlib import Path

from dlm.io.provenance import REPO_ROOT as REPO
from dlm.train.loop import config_dict

# The first campaign's config: the same network, recipe and dev photos; this run changes the start
# (the shipped file itself), pool, augmentation, seed, rate, length and evaluation interval.
BASE = Path(__file__).with_name("offline_mnv2100_703.py")
SHIPPED = REPO / "dlm" / "data" / "weights" / "offline_703.npz"


def get_config():
    return dict(config_dict(BASE), name="offline_mnv2100_703_ft9n", steps=3_000, lr=1e-4, data_seed=9039,
                eval_every=1000, pool="pools/pool160_48k_real9n", augment=dict(max_gain=0.04, grayscale_prob=0.16),
                # The shipped weights' samples (the first campaign's end): this run's schedule starts at its step 0.
                init_from=str(SHIPPED), init_backbone=None, campaign_start_samples=1_920_000)
