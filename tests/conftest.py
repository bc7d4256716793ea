import os

# Never the persistent compilation cache inside the test process (see dlm.cli.main.main).
os.environ.setdefault("DLM_NO_COMPILE_CACHE", "1")

import jax  # noqa: E402
import pytest  # noqa: E402

jax.config.update("jax_enable_x64", False)
REAL_DIR = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "real")


@pytest.fixture(scope="session")
def model():
    import dlm
    return dlm.load_face_model()
