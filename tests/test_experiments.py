"""Every experiment script still imports and parses its command line (CI's smoke run of
experiments/: an API that moved under a script fails here, in seconds, instead of in a
16-minute `python experiments/run_all.py --quick`, which stays the command for the quick runs)."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"
# Scripts with a command line (their own parser or common.start's); the figure scripts take no
# arguments and would run whole, and peers_runner.py runs inside a peer's environment.
SCRIPTS = sorted(p.name for p in EXPERIMENTS.glob("*.py") if p.name != "common.py" and "__main__" in p.read_text()
                 and ("ArgumentParser" in p.read_text() or re.search(r"from common import .*\bstart\b", p.read_text())))


def test_run_all_lists_every_experiment():
    sys.path.insert(0, str(EXPERIMENTS))
    try:
        import run_all
    finally:
        sys.path.remove(str(EXPERIMENTS))
    assert set(run_all.EXPERIMENTS) <= set(SCRIPTS)


@pytest.mark.parametrize("script", SCRIPTS)
def test_experiment_script_imports_and_parses_its_arguments(script):
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    r = subprocess.run([sys.executable, script, "--help"], cwd=EXPERIMENTS, env=env, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "usage:" in r.stdout


CONFIGS = sorted(p.name for p in (EXPERIMENTS / "configs").glob("*.py"))


@pytest.mark.parametrize("config", CONFIGS)
def test_training_config_loads_and_names_files_that_exist(config):
    """A campaign's config is read at its first step, hours into a session: a misspelt key, an
    unknown network or landmark set, or a start file that moved fails here instead."""
    from dlm.landmarks import nets
    from dlm.landmarks.predictor import SHIPPED
    from dlm.train import loop as train
    cfg = train.load_config(EXPERIMENTS / "configs" / config)
    assert cfg.network in nets.NETWORKS, cfg.network
    assert cfg.landmark_set in ("703", "320", "68"), cfg.landmark_set
    for start in (cfg.init_from, cfg.init_backbone):
        if start is not None and start not in SHIPPED.values() and start not in SHIPPED:
            assert Path(start).exists(), start
