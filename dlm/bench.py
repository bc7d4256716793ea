"""Benchmarks. Each returns a dict of figures; the CLI writes it with --json."""
from __future__ import annotations

import platform
import subprocess
import time

import numpy as np


def git_revision() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                              cwd=__file__.rsplit("/", 2)[0], timeout=10).stdout.strip() or "unknown"
    except Exception:
        return "unknown"


def time_fn(fn, *args, repeats: int = 50, warmup: int = 3) -> dict:
    """Median and spread of wall time of a jitted fn (blocks on its result)."""
    import jax
    t0 = time.perf_counter()
    jax.block_until_ready(fn(*args))
    first = time.perf_counter() - t0
    for _ in range(warmup):
        jax.block_until_ready(fn(*args))
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - t0)
    t = np.asarray(times) * 1e3
    return dict(median_ms=float(np.median(t)), p10_ms=float(np.percentile(t, 10)),
                p90_ms=float(np.percentile(t, 90)), first_call_ms=first * 1e3, repeats=repeats)


def bench_model(repeats: int = 50) -> dict:
    """Time M(beta, psi, theta) for the whole mesh and for landmark sets alone."""
    import jax
    import jax.numpy as jnp
    import dlm
    from dlm import facemodel as fm
    model = dlm.load_face_model()
    key = jax.random.key(0)
    k1, k2, k3 = jax.random.split(key, 3)
    params = dlm.FaceParams.zeros(model).replace(
        identity=jax.random.normal(k1, (model.num_identity,)),
        expression=jax.random.uniform(k2, (model.num_expression,)) * 0.3,
        joint_rotations=0.2 * jax.random.normal(k3, (4, 3)),
        translation=jnp.array([0.0, 0.0, -60.0]))
    full = jax.jit(lambda m, p: dlm.vertices(m, p))
    out = {"full_mesh": time_fn(full, model, params, repeats=repeats)}
    out["full_mesh"]["num_vertices"] = model.num_vertices
    for name in ("703", "320", "68"):
        fn = jax.jit(lambda m, p, n=name: dlm.landmark_vertices(m, p, n))
        out[f"landmarks_{name}"] = time_fn(fn, model, params, repeats=repeats)
        # As a fitter uses it: rows gathered once, outside the timed function.
        sub = fm.restrict(model, model.landmarks[name])
        out[f"landmarks_{name}_restricted"] = time_fn(jax.jit(dlm.vertices), sub, params, repeats=repeats)
    sub = fm.restrict(model, model.landmarks["703"])
    jac = jax.jit(lambda m, p: jax.jacfwd(lambda q: dlm.vertices(m, q))(p))
    out["landmarks_703_restricted_jacfwd"] = time_fn(jac, sub, params, repeats=max(5, repeats // 5))
    return out


def environment() -> dict:
    import jax
    import os
    return dict(jax=jax.__version__, backend=jax.default_backend(), devices=[str(d) for d in jax.devices()],
                cpu_affinity=sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
                xla_flags=os.environ.get("XLA_FLAGS", ""), machine=platform.machine(),
                python=platform.python_version(), git_revision=git_revision())
