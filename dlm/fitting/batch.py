"""Batch fitting: many independent faces in one compiled call, laid over every device.

    res = fit_batch(model, mu, sigma, image_sizes)                   # offline fitter, (N, L, 2) ...
    res = fit_batch(model, mu, sigma, image_sizes, fitter="realtime") # pose + expression LM

The real-time fitter is vmapped over a leading batch axis; the offline fitter loops over each
device's rows inside one compiled call (see `_compiled`).  Batches are padded to fixed sizes
(`BUCKETS`), so a varying number of inputs compiles once per bucket, not once per count.  The batch
axis is sharded over a `jax.sharding.Mesh` of all devices (`NamedSharding(mesh, P("batch"))`):
one CPU, one GPU, several GPUs, or, after `jax.distributed.initialize()`, the devices of several
hosts, where each process passes the faces it holds (`jax.make_array_from_process_local_data`)
and gets back its own.  Without padding rows, a face's result does not depend on the batch it
sits in or on the device layout (a test checks sharded == single-device).

Fitters:
  "offline": the full offline fit of one photo (rigid starts at three yaws, then identity,
    expression, joints and focal length by L-BFGS); `dlm.fitting.offline`.
  "realtime": the real-time fitter's Levenberg-Marquardt over pose and expression with identity
    and focal fixed (default: mean identity, focal = 2 x image size), from a cold start placed by
    the landmarks' centroid and spread; `dlm.fitting.realtime`.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from dlm.core import facemodel as fm
from dlm.core import sharding
from dlm.fitting import energy as en, offline, realtime as rt

BUCKETS = (1, 8, 64, 512, 4096)


def bucket_size(n: int, multiple: int = 1, buckets=BUCKETS) -> int:
    """The smallest bucket >= n (beyond the largest: the next multiple of it), rounded up to a
    multiple of `multiple` (the device count)."""
    b = next((b for b in buckets if b >= n), None)
    if b is None:
        b = -(-n // buckets[-1]) * buckets[-1]
    return -(-b // multiple) * multiple


class BatchResult(NamedTuple):
    params: fm.FaceParams      # batched over N: identity (N, I), expression (N, E), joint_rotations (N, 4, 3), ...
    focal: np.ndarray          # (N,) pixels
    principal_point: np.ndarray  # (N, 2)
    landmarks_2d: np.ndarray   # (N, L, 2) fitted projections
    landmark_energy: np.ndarray  # (N,) weighted landmark term at the solution


device_mesh = sharding.device_mesh


# ---------------------------------------------------------------------------------------------
# One face, pure: these are what gets vmapped.

def _realtime_one(mu, sigma, weight, size, identity, focal, parts, st: rt.Structure, num_iters: int,
                  linear_solver: str):
    """Pose + expression by the real-time LM from a cold start, identity and focal fixed."""
    model_rows, = parts
    pp = size / 2.0
    consts = rt.FrameConstants(
        model_rows.template + jnp.einsum("lci,i->lc", model_rows.identity_basis, identity),
        fm.joint_locations(model_rows, identity), focal, pp, rt.RealtimeWeights(*(jnp.float32(v) for v in
                                                                                 rt.RealtimeWeights())))
    # Cold start: frontal head whose landmark spread matches the observed one (as offline does).
    c3 = consts.bind_identity.mean(0)
    spread3 = jnp.sqrt(jnp.mean(jnp.sum((consts.bind_identity[:, :2] - c3[:2]) ** 2, -1)))
    ws = jnp.maximum(weight.sum(), 1.0)
    c2 = (weight[:, None] * mu).sum(0) / ws
    spread2 = jnp.sqrt((weight * jnp.sum((mu - c2) ** 2, -1)).sum() / ws)
    depth = focal * spread3 / jnp.maximum(spread2, 1e-3)
    p = jnp.stack([(c2[0] - pp[0]) * depth / focal, -(c2[1] - pp[1]) * depth / focal, -depth])
    x0 = rt.pack(jnp.zeros((4, 3)), p - c3, jnp.zeros(st.num_expression))
    frame = rt.FrameInput(mu, sigma, weight, mu, jnp.zeros((), jnp.float32))
    state = rt.solve_frame(x0, frame, consts, st, num_iters, linear_solver=linear_solver)
    rot, trans, psi = rt.split(state.x)
    x2d = rt._project(rt._points(state.x, consts, st), focal, pp)
    params = fm.FaceParams(identity, psi, rot, trans)
    return params, focal, pp, x2d, state.cost


# Real-time rows vmapped at once per CPU device.  Vmapping a whole batch, fits/s peaked at 64 on
# one CPU device (563, vs 413 at 512 and 291 at 4096, this AMD EPYC) as the working set outgrew
# the cache; in chunks of 64, batch 4096 ran at 571 fits/s.
CPU_CHUNK = 64


def _on_cpu(mesh: Mesh) -> bool:
    return next(iter(mesh.devices.flat)).platform == "cpu"


def linear_solver(mesh: Mesh) -> str:
    """The real-time LM's linear solver on `mesh`: plain-XLA Gauss-Jordan on a mesh of several
    CPU devices, where vmapped LAPACK kernels deadlock (`dlm.fitting.lm`); LAPACK / cuSOLVER
    Cholesky elsewhere, faster on one CPU device at large batches (batch 4096: 290 vs 213 fits/s
    here; at 64 the two runs disagreed, 554 vs 163 and 366 vs 471).  The two agree to 0.008 px."""
    return "gauss_jordan" if mesh.devices.size > 1 and _on_cpu(mesh) else "cholesky"


@functools.lru_cache(maxsize=None)
def _compiled(fitter: str, n: int, mesh: Mesh, static):
    """vmapped + jitted batch function with the batch axis sharded over `mesh`."""
    shard = NamedSharding(mesh, P("batch"))
    rep = NamedSharding(mesh, P())
    if fitter == "offline":
        config, = static

        # Each device loops over its own rows (lax.map inside shard_map), not vmap: L-BFGS's
        # zoom line search is data-dependent control flow, which vmap turns into every branch
        # for every face until the slowest converges (8 faces took 185 s vmapped on a CPU and
        # ~30 s looped).
        def local(mu, sg, w, sz, parts):
            return jax.lax.map(lambda a: offline.fit_one_traced(*a, parts, config), (mu, sg, w, sz))
        fn = jax.shard_map(local, mesh=mesh, in_specs=(P("batch"),) * 4 + (P(),), out_specs=P("batch"),
                           check_vma=False)
        return jax.jit(fn, in_shardings=(shard, shard, shard, shard, rep), out_shardings=shard)
    st, num_iters = static
    solver = linear_solver(mesh)
    chunk = CPU_CHUNK if _on_cpu(mesh) else None

    def one(mu, sg, w, sz, idt, f, parts):
        return _realtime_one(mu, sg, w, sz, idt, f, parts, st, num_iters, solver)

    # Each device vmaps its own rows; on a CPU in chunks of CPU_CHUNK rows, one chunk after the
    # other (lax.map with batch_size), so a chunk's working set stays in cache.
    def local(mu, sg, w, sz, idt, f, parts):
        rows = (mu, sg, w, sz, idt, f)
        if chunk is None or mu.shape[0] <= chunk:
            return jax.vmap(one, in_axes=(0,) * 6 + (None,))(*rows, parts)
        return jax.lax.map(lambda r: one(*r, parts), rows, batch_size=chunk)
    fn = jax.shard_map(local, mesh=mesh, in_specs=(P("batch"),) * 6 + (P(),), out_specs=P("batch"),
                       check_vma=False)
    return jax.jit(fn, in_shardings=(shard,) * 6 + (rep,), out_shardings=shard)


_CACHE: dict = {}


def _cached(key, make):
    """Per-model caches keyed by id (FaceModel holds arrays, so it is not hashable)."""
    if key not in _CACHE:
        _CACHE[key] = make()
    return _CACHE[key]


def _parts(model: fm.FaceModel, fitter: str, landmark_set: str, use_intersect: bool):
    if fitter == "offline":
        return _cached((id(model), fitter, landmark_set, use_intersect), lambda: (
            fm.restrict(model, model.landmarks[landmark_set]), offline.joints_only(model),
            offline.prior.standard_normal_prior(model.num_identity),
            en.make_intersection_data(model) if use_intersect else None))
    return _cached((id(model), fitter, landmark_set), lambda: (fm.restrict(model, model.landmarks[landmark_set]),))


def _pad(a: np.ndarray, n: int) -> np.ndarray:
    """Pad rows to n by repeating the last row (a valid face, so padding never makes NaNs)."""
    a = np.asarray(a)
    if len(a) == n:
        return a
    return np.concatenate([a, np.repeat(a[-1:], n - len(a), 0)])


def fit_batch(model: fm.FaceModel, mu, sigma, image_sizes, weight=None, fitter: str = "offline",
              landmark_set: str | None = None, config: offline.FitConfig | None = None,
              identity=None, focal=None, num_iters: int = 10, mesh: Mesh | None = None,
              buckets=BUCKETS) -> BatchResult:
    """Fit N independent faces.

    Args:
      mu: (N, L, 2) landmarks, pixels; sigma: (N, L) pixels; weight: (N, L) or None (all ones).
      image_sizes: (N, 2) or (2,) (width, height); principal point at the centre.
      fitter: "offline" or "realtime" (see the module docstring).
      landmark_set: the set the L landmarks belong to (default: the one with L landmarks).
      config: offline FitConfig (mode is "monocular"; use_intersect off by default here: the
        penetration term needs the full mesh per face and dominates batch memory).
      identity (N, I), focal (N,): the real-time fitter's fixed values (default mean face, 2 x size).
      mesh: device mesh for the batch axis (default: every device of every process).
    Inputs of this process only under multi-process JAX; results likewise.
    """
    mu = np.asarray(mu, np.float32)
    n, L = mu.shape[:2]
    sigma = np.asarray(sigma, np.float32)
    weight = np.ones((n, L), np.float32) if weight is None else np.asarray(weight, np.float32)
    sizes = np.broadcast_to(np.asarray(image_sizes, np.float32), (n, 2))
    if sigma.shape != (n, L) or weight.shape != (n, L) or mu.shape != (n, L, 2):
        raise ValueError(f"fit_batch: mu {mu.shape}, sigma {sigma.shape}, weight {weight.shape} disagree")
    if landmark_set is None:
        landmark_set = next((k for k, v in model.landmarks.items() if len(v) == L), None)
        if landmark_set is None:
            raise ValueError(f"no landmark set has {L} landmarks")
    mesh = mesh or device_mesh()
    nb = bucket_size(n, sharding.local_device_count(mesh), buckets)
    args = [_pad(mu, nb), _pad(sigma, nb), _pad(weight, nb), _pad(sizes, nb)]
    if fitter == "offline":
        config = config or offline.FitConfig(landmark_set=landmark_set, use_intersect=False)
        config = dataclasses.replace(config, landmark_set=landmark_set, mode="monocular")
        static = (config,)
        parts = _parts(model, "offline", landmark_set, config.use_intersect)
    elif fitter == "realtime":
        ident = np.zeros((n, model.num_identity), np.float32) if identity is None else np.asarray(identity, np.float32)
        foc = 2.0 * sizes.max(1) if focal is None else np.broadcast_to(np.asarray(focal, np.float32), (n,))
        args += [_pad(ident, nb), _pad(np.asarray(foc, np.float32), nb)]
        static = (_structure(model, landmark_set), num_iters)
        parts = _parts(model, "realtime", landmark_set, False)
    else:
        raise ValueError(f"fitter must be 'offline' or 'realtime', not {fitter!r}")
    fn = _compiled(fitter, nb, mesh, static)
    params, f, pp, x2d, e = fn(*sharding.shard_batch(args, mesh), parts)
    out = sharding.local_rows((params, f, pp, x2d, e))
    cut = lambda a: np.asarray(a)[:n]  # noqa: E731
    params = jax.tree_util.tree_map(cut, out[0])
    return BatchResult(params, cut(out[1]), cut(out[2]), cut(out[3]), cut(out[4]))


def _structure(model: fm.FaceModel, landmark_set: str) -> rt.Structure:
    return _cached((id(model), "structure", landmark_set),
                   lambda: _HashableStructure(*rt.analyse_sparsity(model, landmark_set)))


class _HashableStructure(rt.Structure):
    """Structure hashed by identity (it holds numpy arrays) so it can key the compile cache."""
    __slots__ = ()

    def __hash__(self):
        return id(self)

    def __eq__(self, other):
        return self is other
