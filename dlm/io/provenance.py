"""Where a result came from: the git revision, the software and machine, and the team's real
photographs beside the repository (`../shared/real`, never committed)."""
from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

import jax

REPO_ROOT = Path(__file__).resolve().parents[2]


def git_revision() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                              cwd=REPO_ROOT, timeout=10).stdout.strip() or "unknown"
    except Exception:
        return "unknown"


def cpu_name() -> str:
    """The CPU's model name (/proc/cpuinfo on Linux), for benchmark records: times differ 2x between
    this project's CPU types, so every figure names its CPU."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment() -> dict:
    return dict(jax=jax.__version__, backend=jax.default_backend(), devices=[str(d) for d in jax.devices()],
                cpu=cpu_name(), cpu_count=os.cpu_count(),
                cpu_affinity=sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
                xla_flags=os.environ.get("XLA_FLAGS", ""), machine=platform.machine(),
                python=platform.python_version(), git_revision=git_revision())


def shared_real_path(*parts: str) -> str:
    """A path under the team's real data folder, ../shared/real beside the repository (it may not
    exist: callers check, and tests that need it skip)."""
    return os.path.normpath(os.path.join(REPO_ROOT, "..", "shared", "real", *parts))


def cache_dir(*parts: str) -> str:
    """A path under dlm's cache folder, $DLM_CACHE (default ~/.cache/dlm): render pools, training
    runs, exported fitters and compiled programs live there, outside the work tree, which may be
    laid anew while the machine is kept."""
    root = os.environ.get("DLM_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "dlm")
    return os.path.join(root, *parts)


def enable_compilation_cache() -> str | None:
    """Keep compiled fitters and networks between processes (JAX's persistent cache): the offline fit
    compiles for most of a minute on a 2-core CPU and then runs in seconds.  The cache is
    $DLM_CACHE/jax (DLM_CACHE_DIR moves it alone); DLM_NO_COMPILE_CACHE=1 turns it off, and a cache
    folder the caller already gave JAX (its config or JAX_COMPILATION_CACHE_DIR) is kept as it is.
    The offline fit keeps its traced solve there too (`dlm.fitting.offline`: exported with jax.export,
    so a new process neither traces nor compiles it).  Returns the folder in use, or None."""
    if os.environ.get("DLM_NO_COMPILE_CACHE"):
        return None
    if jax.config.jax_compilation_cache_dir:
        return jax.config.jax_compilation_cache_dir
    d = os.environ.get("DLM_CACHE_DIR") or cache_dir("jax")
    jax.config.update("jax_compilation_cache_dir", d)
    # Every program: a fit is hundreds of small ones, each a fraction of a second to compile.
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    return d


def cache_relative(path: str | None) -> str | None:
    """`path` as given when it is absolute or exists from here; otherwise the same relative path
    under the cache folder (a config names its pool `pools/pool160`, found wherever DLM_CACHE is)."""
    if path is None or os.path.isabs(path) or os.path.exists(path):
        return path
    return cache_dir(path)
