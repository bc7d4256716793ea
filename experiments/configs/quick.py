"""A tiny model for tests and smoke runs (a minute on a CPU):

    dlm train experiments/configs/quick.py --workdir /tmp/dlm_quick
"""


def get_config():
    return dict(name="quick", network="tiny", landmark_set="68", size=64, batch_size=8, steps=20, loss="gnll",
                lr_test_steps=12, warmup_steps=4, test_num=16, eval_every=10, checkpoint_every=10, log_every=5,
                # A tiny network says nothing on real photos; scoring them cost every export seconds.
                real_eval_dir=None)
