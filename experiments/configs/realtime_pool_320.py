"""The real-time landmark model's campaign on the render pool (issue 18): MobileNetV2 x0.5, 320
landmarks, 128 px crops, GNLL, continued from the shipped weights.

    dlm synth --pool --num 50000 --size 160 --seed 0 --crop-scale 0.8 --out data/pool160   # once, resumable
    dlm train experiments/configs/realtime_pool_320.py --workdir runs/realtime_pool_320     # resumable

The step count is the whole campaign's budget, fixed up front (3.2M samples = 100,000 steps of
32), so the cosine decay runs to the end of the campaign, not to the end of a session: every
session reruns the same command and the run resumes from its checkpoint.  When the checkpoint is
gone (a new machine), start a new workdir with `init_from` pointing at the last committed
weights and `steps` lowered by the steps already done.  Weights with their manifest (samples
seen, CPU hours, the chain of runs) are exported at every evaluation.
"""


def get_config():
    return dict(name="realtime_pool_320", network="mobilenetv2_050", landmark_set="320", size=128,
                batch_size=32, steps=100_000, loss="gnll", lr=2e-3, warmup_steps=500, data_seed=101, seed=0,
                eval_every=1000, checkpoint_every=250, log_every=50, pool="data/pool160",
                init_from="realtime")
