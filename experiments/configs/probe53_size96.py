"""Session 53's probe (issue 20 with the network issue): can the real-time network take 96-px crops
instead of 128?  The network on one crop costs ~0.6x as much at 96 px (shipped weights, one pinned core, the
other rendering a pool: median 1.21 against 1.93 ms), and the detail
probe (experiments/results/detail_probe.md) found the shipped network loses only 0.08 points when its
crops carry 64 px of detail, so the pixels it would lose are not what it uses.  The network is not
size-agnostic as trained (the shipped weights fed 96-px crops score 30% balanced), so this fine-tunes
them at 96 px: probe52_real10n.py's run (the shipped weights, the same recipe, length, pool and draws)
with the input at 96 px.  Against session 52's first arm at 128 px (dev balanced 6.52%):
experiments/results/probe53.jsonl.  Result (2026-12-06 14:01-14:08, 2-core AMD EPYC, 163 img/s against
105 for probe53_real10v at 128 px): dev balanced 7.38% (0-30 / 30-60 / 60-90 degrees 5.28 / 7.24 / 9.62%; inner 51 5.22%,
failures 9.0%), synthetic 5.64% (4.26% at 128 px): 2,000 steps take the weights from 30% back to 7.4%, not to 6.5%.  A
96-px network is not a cheap switch; whether a long run closes the gap is not measured.

    dlm train experiments/configs/probe53_size96.py --minutes 20 --campaign-log PATH
"""
from pathlib import Path

from dlm.train.loop import config_dict

BASE = Path(__file__).with_name("probe52_real10n.py")


def get_config():
    return dict(config_dict(BASE), name="probe53_size96", size=96)
