"""The 160-px offline network's fourth fine-tune: s160c continued on a new pool (network issue, issue 21).

offline_mnv2100_703_s160c.py (the shipped weights, 3,000 steps on the seed-12 pool) read the dev photos at 6.20% on
ground-truth crops against the shipped 6.33%, the best yet, and was stopped by the own-face-finding gate on four
profiles.  Its weights live in the cache (runs/offline_mnv2100_703_s160c/weights.npz, 2,208,000 samples seen), so
this run continues that chain with the same recipe (peak 3e-4, 3,000 steps of 32, colour gain sd 0.04, grey images
on 16% of draws) on one more pool of unseen heads (seed 13), trained together with the seed-12 pool so the
network does not drift to one pool's draws:

    dlm synth --pool --num 48000 --size 160 --seed 13 --crop-scale 0.8 --env-light 0.5 \\
        --skin-detail --hair-volume --long-hair --eyelashes --shoulders --beard-volume --natural-light \\
        --lenses --out ~/.cache/dlm/pools/pool160_48k_real13L
    dlm train experiments/configs/offline_mnv2100_703_s160d.py --minutes 75 \\
        --campaign-log experiments/results/campaign_offline_mnv2100_703_s160d.jsonl --roi-auto

Ship with `experiments/ship_weights.py ~/.cache/dlm/runs/offline_mnv2100_703_s160d/weights.npz --name offline`
when it beats the shipped network on both gates.
"""
from pathlib import Path

from dlm.io.provenance import cache_dir
from dlm.train.loop import config_dict

# s160c's recipe; this run changes the start (s160c's end), the draws and adds a pool.
BASE = Path(__file__).with_name("offline_mnv2100_703_s160c.py")


def get_config():
    # s160c's weights have seen 2,208,000 samples (the shipped 2,112,000 plus 3,000 steps of 32).
    return dict(config_dict(BASE), name="offline_mnv2100_703_s160d", data_seed=10060,
                init_from=cache_dir("runs", "offline_mnv2100_703_s160c", "weights.npz"),
                pool=["pools/pool160_48k_real12L", "pools/pool160_48k_real13L"],
                campaign_start_samples=2_208_000)
