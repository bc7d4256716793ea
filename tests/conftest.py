import os

# The suite's programs compile with LLVM at optimisation level 1 and XLA:CPU's loop emitters (issue 30: a
# cold run is mostly compiling).  These are compile options, the same computations: the options dlm
# itself gives its small renders (dlm.synth.render._SMALL_CPU_OPTIONS), and float rounding may differ in
# the last bits as it does between CPU types, which the tests' tolerances already allow.  Measured one
# test pair at a time from an empty cache, a training run sharing the CPU (session 63): the quick
# training resume and the batch-invariance render 95 -> 66 s, the chunked offline fit and the implicit
# gradient 74 -> 64 s; the whole suite cold, idle, 8:28 (952 s user) against session 61's 10:38 (1,178 s)
# with XLA's defaults, and no slower warm (docs/test_suite.md).  DLM_TEST_XLA_DEFAULTS=1 runs the suite with
# XLA's defaults, as users' programs compile.  Set before JAX starts (XLA reads XLA_FLAGS once); the `dlm` and `python -c` subprocesses
# that tests start inherit them.
TEST_XLA_FLAGS = "--xla_backend_optimization_level=1 --xla_cpu_use_fusion_emitters=false"
if not os.environ.get("DLM_TEST_XLA_DEFAULTS") and TEST_XLA_FLAGS not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + TEST_XLA_FLAGS).strip()

import jax  # noqa: E402
import pytest  # noqa: E402

from dlm.io.provenance import cache_dir

jax.config.update("jax_enable_x64", False)

# JAX's persistent compilation cache, shared by the xdist workers, by the `dlm` subprocesses that
# CLI tests start (DLM_CACHE_DIR) and by later runs: most of the suite's time is compiling, and
# the same programs recur across workers, processes and runs.  DLM_NO_COMPILE_CACHE=1 turns it
# off.  (Session 28 turned it off after a worker aborted while loading a cached program; that was
# the memory-map exhaustion that _bounded_compiled_programs below prevents, not the cache.)
if not os.environ.get("DLM_NO_COMPILE_CACHE"):
    os.environ.setdefault("DLM_CACHE_DIR", cache_dir("jax"))
    # Also for the `python -c` scripts tests start (sharded and multi-process runs): JAX reads these.
    os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", os.environ["DLM_CACHE_DIR"])
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
    jax.config.update("jax_compilation_cache_dir", os.environ["DLM_CACHE_DIR"])
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
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


# Every program XLA:CPU compiles (or loads from the persistent cache) keeps ~18 memory maps while
# JAX holds it, and Linux allows a process 65,530 (vm.max_map_count).  A test worker compiles
# thousands of programs over a run (every test its own shapes), and near the end of the suite a
# compilation then segfaulted or aborted the worker (CI: rc 134 and SIGSEGV in test_synth and
# test_product_e2e, inside backend_compile; session 28: inside the cache's
# get_executable_and_time).  Both reproduce in seconds by filling the map table with mmap first:
# LLVM reports "Cannot allocate memory", then the process segfaults.  So between tests, past half
# the limit, drop JAX's in-memory caches: later tests reload (or recompile) what they need.
MAX_MAPS = int(open("/proc/sys/vm/max_map_count").read()) if os.path.exists("/proc/sys/vm/max_map_count") else 65530


@pytest.fixture(autouse=True)
def _bounded_compiled_programs():
    yield
    if _memory_maps() > MAX_MAPS // 2:
        import gc
        jax.clear_caches()
        gc.collect()


# Where a cold run's time goes (issue 30): DLM_COMPILE_REPORT=DIR makes each worker write
# DIR/<worker>.json with every XLA compilation it ran or loaded from the persistent cache, by test
# and by program (JAX's backend-compile event spans both; a cache hit also reports the compile
# time it saved).  Programs compiled in `dlm` subprocesses are not seen here, only their tests'
# wall time.  experiments/suite_compiles.py merges the files into a table.
_COMPILE_REPORT = os.environ.get("DLM_COMPILE_REPORT")
_current_test = ["(collection or session fixtures)"]
_compiles: list = []
_saved = []  # the compile time a persistent-cache hit saved, until its backend-compile event


def _on_duration(event, seconds, **kwargs):
    if event == "/jax/compilation_cache/compile_time_saved_sec":
        # Recorded inside the backend-compile span, so just before that span's own event.
        _saved.append(float(seconds))
    elif event == "/jax/core/compile/backend_compile_duration":
        _compiles.append(dict(test=_current_test[0], program=str(kwargs.get("fun_name", "?")), stage="xla",
                              seconds=float(seconds), saved=_saved.pop() if _saved else None))
    elif event in ("/jax/core/compile/jaxpr_trace_duration", "/jax/core/compile/jaxpr_to_mlir_module_duration"):
        _compiles.append(dict(test=_current_test[0], program=str(kwargs.get("fun_name", "?")),
                              stage="trace" if "trace" in event else "lower", seconds=float(seconds), saved=None))


if _COMPILE_REPORT:
    jax.monitoring.register_event_duration_secs_listener(_on_duration)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(item, nextitem):
        _current_test[0] = item.nodeid
        try:
            return (yield)
        finally:
            _current_test[0] = "(between tests)"

    def pytest_sessionfinish(session):
        import json
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        os.makedirs(_COMPILE_REPORT, exist_ok=True)
        path = os.path.join(_COMPILE_REPORT, f"{worker}.json")
        with open(path + ".tmp", "w") as f:
            json.dump(dict(worker=worker, compiles=_compiles), f)
        os.replace(path + ".tmp", path)

