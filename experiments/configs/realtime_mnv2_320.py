"""The shipped real-time landmark model: MobileNetV2, 320 landmarks, 128 px crops, GNLL.

    dlm train experiments/configs/realtime_mnv2_320.py --workdir runs/realtime_mnv2_320

Resumes after a kill (rerun the same command).  On this 2-core CPU it trains at about 16 images/s
while rendering its own data, so the step count is a CPU-sized run (40 minutes); on a GPU raise it.

The rate is fixed at 1e-3: the range test of the first version (which read the GNLL loss) picked
2e-2, and 300 steps at that rate stayed at the mean shape; `dlm.train.loop.lr_range_test` now reads the
landmark error instead, but has not been rerun on this config.
"""


def get_config():
    return dict(name="realtime_mnv2_320", network="mobilenetv2", landmark_set="320", size=128, batch_size=32,
                steps=1200, loss="gnll", lr=1e-3, data_seed=0, seed=0, eval_every=500, checkpoint_every=100)
