"""The shipped real-time landmark model: MobileNetV2, 320 landmarks, 128 px crops, GNLL.

    dlm train experiments/configs/realtime_mnv2_320.py --workdir runs/realtime_mnv2_320

Resumes after a kill (rerun the same command).  On this 2-core CPU it trains at roughly
10-20 images/s, so the default step count is a CPU-sized run; on a GPU raise `steps`.
"""


def get_config():
    return dict(name="realtime_mnv2_320", network="mobilenetv2", landmark_set="320", size=128, batch_size=32,
                steps=2000, loss="gnll", data_seed=0, seed=0, eval_every=500, checkpoint_every=100,
                render_workers=1)
