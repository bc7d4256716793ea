import os

import jax
import pytest

jax.config.update("jax_enable_x64", False)
REAL_DIR = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "real")


@pytest.fixture(scope="session")
def model():
    import dlm
    return dlm.load_face_model()
