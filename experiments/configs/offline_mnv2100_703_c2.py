"""The offline landmark network's second campaign: a warm restart of the first (offline_mnv2100_703.py,
whose 60,000-step cosine ended in session 49 at dev 6.50% balanced, shipped) on fresh renders.

Why a new cycle: the first campaign's last 7,900 steps (rate 1.0e-4 to 2e-5) moved the dev photos by
0.03 points; its rate has reached the floor, so more steps on the same schedule teach nothing.  A
restart at a lower peak (5e-4, a quarter of the first's 2e-3: it moves a converged network without
undoing it; the fine-tuning probes' 3e-4 over 2,000 steps moved the real-time network 0.15-0.4
points) runs a new cosine over 30,000 steps (960k samples, about six 90-minute sessions on the
project's 2-core CPU), and draws a third pool of the latest kind (seed 9) with the two it had, so a
third of every batch is renders it has never seen.  Grey images on 16% of draws instead of 8%: the
session-49 probe (`env_light_50_gray16`, experiments/results/realism_finetune.md) gave 7.57% against
the control's 7.70-7.73%.  Everything else as the first campaign's last sessions (pose prior,
colour gain sd 0.04).

    dlm synth --pool --num 48000 --size 160 --seed 9 --crop-scale 0.8 --env-light 0.5 \\
        --skin-detail --hair-volume --long-hair --eyelashes --shoulders --beard-volume --natural-light \\
        --out ~/.cache/dlm/pools/pool160_48k_real9n
    dlm train experiments/configs/offline_mnv2100_703_c2.py --minutes 90 \\
        --campaign-log experiments/results/campaign_offline_mnv2100_703_c2.jsonl --roi-auto

(real7b and real8n: the commands in offline_mnv2100_703.py.)  The chain starts from the shipped
offline weights (1.92M samples seen: `campaign_start_samples`, so this cosine starts at its own step
0) and continues from CHAIN_OWN once a session has written it there (half precision, at a session's
end, or the shipped file again when a session ships).

Closed after session 50: the chain lived only on that machine (~/.cache/dlm/runs, 9 MB of weights over
the 55 MB budget), and session 51's machine was new, so the chain's 8,615 steps (dev 6.71%, not better
than shipped) are gone.  Run again, this config restarts from the shipped weights at its step 0.
"""
from dlm.io.provenance import REPO_ROOT as REPO, shared_real_path

CHAIN_OWN = REPO / "experiments" / "results" / "campaign_offline_mnv2100_703_c2" / "weights.npz"
SHIPPED = REPO / "dlm" / "data" / "weights" / "offline_703.npz"
CHAIN = CHAIN_OWN if CHAIN_OWN.exists() else SHIPPED


def get_config():
    return dict(name="offline_mnv2100_703_c2", network="mobilenetv2", landmark_set="703", size=128,
                batch_size=32, steps=30_000, loss="gnll", lr=5e-4, warmup_steps=300, data_seed=7032, seed=0,
                eval_every=2000, checkpoint_every=250, log_every=50, pool_pose_prior={},
                pool=["pools/pool160_48k_real7b", "pools/pool160_48k_real8n", "pools/pool160_48k_real9n"],
                augment=dict(max_gain=0.04, grayscale_prob=0.16),
                init_from=str(CHAIN), campaign=True, campaign_start_samples=1_920_000, rewarm_steps=300,
                real_eval_dir=shared_real_path("aflw2000_dev"))
