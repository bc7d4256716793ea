"""The real-time landmark model's campaign on a render pool (issue 31): MobileNetV2 x0.5, 320
landmarks, 128 px crops, GNLL, continued from the shipped weights, scored on the real dev photos.

    dlm synth --pool --num 24000 --size 160 --seed 0 --crop-scale 0.8 --out ~/.cache/dlm/pools/pool160_24k
    dlm train experiments/configs/realtime_pool_320.py --minutes 90 \\
        --campaign-log experiments/results/campaign_realtime_320.jsonl --roi-auto

The pool and the run live in the cache folder ($DLM_CACHE, default ~/.cache/dlm: the pool at
pools/pool160_24k, the run at runs/realtime_pool_320), outside the work tree.  Both commands
resume: the pool from its last chunk, the run from its last checkpoint.  `steps` is the whole
campaign's budget (100,000 steps of 32 = 3.2M samples) and the cosine schedule is read at the
chain's step (`campaign`): on a new machine the run starts from the campaign's last committed
weights (experiments/results/campaign_realtime_320/weights.npz, whose manifest says how many
samples the chain has seen) and resumes the schedule there.  Every session appends
one line to the campaign log; weights whose dev-set balanced NME beats the shipped model's are
shipped (experiments/ship_weights.py).
"""
from dlm.io.provenance import REPO_ROOT as REPO, shared_real_path


def get_config():
    return dict(name="realtime_pool_320", network="mobilenetv2_050", landmark_set="320", size=128,
                batch_size=32, steps=100_000, loss="gnll", lr=2e-3, warmup_steps=500, data_seed=101, seed=0,
                eval_every=1000, checkpoint_every=250, log_every=50, pool="pools/pool160_24k",
                # The campaign's last committed weights (their manifest carries the chain's samples):
                # a new machine continues from them; a kept one from its checkpoint.
                init_from=str(REPO / "experiments" / "results" / "campaign_realtime_320" / "weights.npz"),
                campaign=True, rewarm_steps=100,
                real_eval_dir=shared_real_path("aflw2000_dev"))
