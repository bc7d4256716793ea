"""Session 54's head probe (network issue): does a landmark head that sees where features are beat the
mean-pooled one?  MobileNetV2 classifies from its last feature map averaged over the image, and dlm's
networks regress the landmarks from that average, so position reaches the coordinates only through what
the channels encode; the detail probe (experiments/results/detail_probe.md) found the networks barely use
the detail they get.  `mobilenetv2_050_spatial` keeps the 4 x 4 map (128 px input), reduces it to 64
channels per position by a 1 x 1 convolution and regresses from the flattened 1,024 values (about the
pooled head's size: 1.06M against 1.23M parameters; the network's time barely changes).
The run: the shipped real-time weights' backbone (`init_backbone`; the new head starts as the pooled
one does, at the crop centre), campaign 9's config otherwise (realtime_real10n_320.py: its pools, draws
(data seed 1012), recipe and 6,000 steps), a 300-step warm-up for the new head.  Its control is campaign 9
itself: the same everything with the pooled head from the shipped weights, dev 6.60% balanced (the
shipped weights: 6.47%).
    dlm train experiments/configs/probe54_spatial.py --minutes 60 --campaign-log PATH
Result (2026-12-06 16:50-17:23, 2-core AMD EPYC, 95.4 img/s; experiments/results/probe54.jsonl): dev balanced
6.64% (inner 51 4.64%, failures 6.5%), own face finding 7.41%, synthetic 4.58%, against campaign 9's 6.60% (inner 51
4.54%, failures 7.0%), 7.08% and 4.19%: level on the photos (within the ~0.06 the draws move a run) and behind on
renders, with a head trained on 192k samples against the pooled head's 5.5M.  No gain shown at this budget; the
spatial head's real / synthetic ratio (1.45 against 1.58) leaves a longer run from scratch as the open question.
"""
from pathlib import Path

from dlm.io.provenance import REPO_ROOT as REPO
from dlm.train.loop import config_dict

BASE = Path(__file__).with_name("realtime_real10n_320.py")


def get_config():
    return dict(config_dict(BASE), name="probe54_spatial", network="mobilenetv2_050_spatial", warmup_steps=300,
                campaign=False, campaign_start_samples=0, init_from=None,
                init_backbone=str(REPO / "dlm" / "data" / "weights" / "realtime_mnv2050_320.npz"))
