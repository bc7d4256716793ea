"""The real-time landmark campaign moved to HDRI-lit renders (issue 21): the same chain as
realtime_pool_320.py (MobileNetV2 x0.5, 320 landmarks, 128 px, GNLL, the same 3.2M-sample cosine
schedule read at the chain's step), continued from its last committed weights, on a pool where half
the samples are lit by a Poly Haven environment map seen behind the head.  At equal samples that
pool took the real dev photos from 13.40% to 12.09% balanced (experiments/results/realism_probe.md).

    dlm synth --pool --num 24000 --size 160 --seed 0 --crop-scale 0.8 --env-light 0.5 \\
        --out ~/.cache/dlm/pools/pool160_24k_env
    dlm train experiments/configs/realtime_env_320.py --minutes 90 \\
        --campaign-log experiments/results/campaign_realtime_320.jsonl --roi-auto

The run lives at runs/realtime_env_320 in the cache folder; its campaign lines say which pool
each session trained on.  Afterwards copy weights.npz, weights.json and metrics.jsonl into
experiments/results/campaign_realtime_320/ (the chain's committed state, which both configs start
from) and ship with experiments/ship_weights.py when the dev set improves.
"""
from pathlib import Path

from dlm.train.loop import config_dict

# The campaign's config, loaded by path as dlm train loads configs: this one differs in name and pool only.
BASE = Path(__file__).with_name("realtime_pool_320.py")


def get_config():
    return dict(config_dict(BASE), name="realtime_env_320", pool="pools/pool160_24k_env")
