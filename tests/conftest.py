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


def _memory_maps() -> int:
    try:
        with open("/proc/self/maps") as f:
            return sum(1 for _ in f)
    except OSError:  # not Linux
        return 0


# Every program XLA:CPU compiles keeps ~18 memory maps while JAX caches it, and Linux allows a
# process 65,530 (vm.max_map_count).  A test worker compiles thousands of programs over a run
# (every test its own shapes), and near the end of the suite a compilation then segfaulted or
# aborted the worker (CI: rc 134 and SIGSEGV in test_synth and test_product_e2e, always inside
# backend_compile).  So between tests, past half the limit, drop JAX's caches: later tests
# recompile what they need, and nothing else changes.
MAX_MAPS = int(open("/proc/sys/vm/max_map_count").read()) if os.path.exists("/proc/sys/vm/max_map_count") else 65530


@pytest.fixture(autouse=True)
def _bounded_compiled_programs():
    yield
    if _memory_maps() > MAX_MAPS // 2:
        import gc
        jax.clear_caches()
        gc.collect()
