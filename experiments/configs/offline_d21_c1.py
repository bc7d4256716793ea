"""The grown offline network's first campaign (network issue, issue 21): `mobilenetv2_d21` (the shipped offline network
with one residual block more in each of its 32-, 64-, 96- and 160-channel stages, the new blocks starting as the
identity) trained for a campaign's length, 12,000 steps of 32 (384k samples) on the seed-13 lens pool, instead of
session 67's 3,000-step probe (`probe67_d21.py`), whose new blocks ended almost unused (their last batch norm's
scale 0.0005-0.004 against 0.35-0.46 in the old blocks) and whose photos and renders read as the control's.  Its
comparison is the 17-block network's fine-tunes from the same start, which circle it (s160d-f and the session 64-67
probes: 6.16-6.31% on the dev photos' ground-truth crops, the start s160c 6.199%): a grown network that reads the
photos below that spread, and its renders below the 4.00-4.09% those reach, is capacity the photo network lacked.

    python experiments/grow_network.py dlm/data/weights/offline_703.npz \\
        ~/.cache/dlm/grow/offline_d21.npz --network mobilenetv2_d21
    dlm train experiments/configs/offline_d21_c1.py --minutes 600 \\
        --campaign-log experiments/results/offline_d21_c1.jsonl --roi-auto

The same command resumes it from its last checkpoint (every 250 steps) in a later session.

Progress (session 67, 2026-12-07 23:12-23:23, experiments/results/offline_d21_c1.jsonl): 297 of 12,000 steps (250 in a
run stopped at the session's end, 47 more in a one-minute run that wrote the campaign line), at the peak rate right
after its warm-up: dev balanced 6.40% on ground-truth crops (own face finding 6.80%), synthetic 4.37%, against the
start's 6.199%: a campaign early in its schedule, not a result, and not shipped.

Progress (session 68, 2026-12-08 00:09-01:59, a new machine: session 67's checkpoint was lost with it, so the run
began again at step 0 from the same regrown start; second line of the jsonl): 3,726 of 12,000 steps (the CPU shared
with the session's measurements and paused for two test-suite runs, 18 img/s on average), learning rate 2.4e-4 at the
line: dev balanced 6.36% on ground-truth crops (4.59 / 5.96 / 8.54% by yaw; failures > 10% 5.0%), own face finding
6.55% (every face found), synthetic 4.29%: still above the start (6.199%, renders ~4.05%) while the rate is high, as
a fine-tune mid-schedule reads; not a result and not shipped.  The same command resumes it from step 3,726 if the
machine is kept.
"""
from pathlib import Path

from dlm.io.provenance import cache_dir
from dlm.train.loop import config_dict

BASE = Path(__file__).with_name("probe65_control.py")


def get_config():
    return dict(config_dict(BASE), name="offline_d21_c1", network="mobilenetv2_d21",
                init_from=cache_dir("grow", "offline_d21.npz"), data_seed=6701, steps=12000, eval_every=3000)
