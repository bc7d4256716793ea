"""The end-to-end product and batch tests, each module in a fresh Python process.

In one process after them, the next XLA compilation of the rasteriser crashed the interpreter in CI
twice (an abort in a compilation-cache write, then a segfault inside XLA's compiler, both in
test_render_scene); run apart, every module passes.  The cause is not found yet (see the issue
notes); the cases themselves are unchanged and still run under `python -m pytest`."""
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.mark.parametrize("module", ["batch_cases.py", "product_cases.py", "dataset_cases.py"])
def test_module_in_its_own_process(module):
    p = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", os.path.join("isolated", module)],
                       cwd=HERE, capture_output=True, text=True, timeout=3600)
    assert p.returncode == 0, (p.stdout[-6000:] + p.stderr[-3000:])
