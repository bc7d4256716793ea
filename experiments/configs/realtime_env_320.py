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
from dlm.io.provenance import REPO_ROOT as REPO, shared_real_path


def get_config():
    return dict(name="realtime_env_320", network="mobilenetv2_050", landmark_set="320", size=128,
                batch_size=32, steps=100_000, loss="gnll", lr=2e-3, warmup_steps=500, data_seed=101, seed=0,
                eval_every=1000, checkpoint_every=250, log_every=50, pool="pools/pool160_24k_env",
                init_from=str(REPO / "experiments" / "results" / "campaign_realtime_320" / "weights.npz"),
                campaign=True, rewarm_steps=100,
                real_eval_dir=shared_real_path("aflw2000_dev"))
