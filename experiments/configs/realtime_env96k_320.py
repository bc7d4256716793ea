"""The real-time landmark network's second campaign: four times the distinct renders.

The first campaign (realtime_env_320.py, 100,000 steps of 32 = 3.2M samples) ended with the
synthetic test error still falling on its 24k-image pool while the real dev photos stalled
(7.70% balanced after an H200 session on a 96k pool, 7.80% after the next CPU session back on the
24k pool): the network had started to learn the pool, not faces.  This campaign continues from that
chain's last weights (the same MobileNetV2 x0.5, 320 landmarks, 128 px crops, GNLL) on a 96k pool
of the same settings (its first 24k are the old pool's), with a schedule of its own: a short warm-up
to 5e-4, a quarter of the first campaign's peak, and a cosine over 40,000 steps (1.28M samples).

    dlm synth --pool --num 96000 --size 160 --seed 0 --crop-scale 0.8 --env-light 0.5 \\
        --grow-from ~/.cache/dlm/pools/pool160_24k_env --out ~/.cache/dlm/pools/pool160_96k_env
    dlm train experiments/configs/realtime_env96k_320.py --minutes 90 \\
        --campaign-log experiments/results/campaign_realtime_env96k_320.jsonl --roi-auto

Afterwards copy weights.npz, weights.json and metrics.jsonl of runs/realtime_env96k_320 into
experiments/results/campaign_realtime_env96k_320/ (the chain's committed state, which a new
machine starts from) and ship with experiments/ship_weights.py when the dev set improves.
"""
from pathlib import Path

from dlm.io.provenance import REPO_ROOT as REPO
from dlm.train.loop import config_dict

BASE = Path(__file__).with_name("realtime_pool_320.py")


def get_config():
    return dict(config_dict(BASE), name="realtime_env96k_320", pool="pools/pool160_96k_env",
                steps=40_000, lr=5e-4, warmup_steps=300, data_seed=202,
                # The first campaign's 100,000 steps of 32: where this one's schedule starts.
                campaign_start_samples=3_200_000,
                init_from=str(REPO / "experiments" / "results" / "campaign_realtime_env96k_320" / "weights.npz"))
