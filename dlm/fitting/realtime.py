"""Real-time fitting (Section 3.3.1): a per-frame Levenberg-Marquardt solve of pose and
expression with a Jacobian built from the model's structure and its sparsity.

Per frame the unknowns are x = [joint rotations (4 x 3), root translation (3),
expression (E)]; identity, focal length and camera are constants of the frame
(refitted occasionally by `RealtimeFitter` from accumulated frames).

Residuals, with cost = 0.5 |r|^2 equal to the energy of Section 3.2 for one frame:
  landmarks  sqrt(w_i) (x_i - mu_i) / sigma_i                   (L, 2)
  temporal   sqrt(2 w_t) (x_i - x_i^prev)                        (L, 2)
  expression sqrt(2 w_e) psi,  bounds sqrt(2 w_b) relu(-psi), relu(psi - 1)
  joints     sqrt(2 w_j) theta_{head, eyes}

Structure used by `structured_normal_equations` (no jacfwd over expressions):
  d x_i / d psi = P_i R_i B_i   (P_i: 2x3 projection derivative, R_i: 3x3 blended
  rotation, B_i: 3xE expression rows of landmark i).  A static analysis keeps, per
  group of nearby landmarks, only the expression columns whose basis rows exceed a
  threshold (the paper's Jacobian threshold); the dropped entries are zeros of one dense
  basis (`Structure.jacobian_basis`), whose three matrix products over all landmarks run
  faster on a CPU than sum_g n_g m_g^2 worth of per-group products scattered into J^T J.
"""
from __future__ import annotations

import atexit
import dataclasses
import functools
import hashlib
import math
import os
import threading
import time
import weakref
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import export

from dlm.core import facemodel as fm
from dlm.core import geometry
from dlm.fitting import energy as en
from dlm.fitting import lm
from dlm.fitting import offline
from dlm.io.files import atomic_path
from dlm.io.provenance import cache_dir as default_cache_dir

NUM_POSE = 15  # 4 joint rotations + root translation


# Refit threads not yet joined: joined at interpreter exit, for callers that never close().
_live_refits: "weakref.WeakSet[threading.Thread]" = weakref.WeakSet()


@atexit.register
def _join_live_refits():
    for thread in list(_live_refits):
        thread.join()


class RealtimeWeights(NamedTuple):
    landmarks: float = 1.0
    expression: float = 1.0
    joints: float = 1.0
    temporal: float = 0.05
    expression_bounds: float = 100.0


# temporal_on of a warm frame, as a host scalar (float32, shape (): the compiled solve's signature).
_ONE = np.float32(1.0)


class FrameInput(NamedTuple):
    """One frame's landmarks: mu (L, 2) px, sigma (L,) px, weight (L,), prev_2d (L, 2) the
    previous frame's fitted projections, temporal_on () 0 or 1."""
    mu: jax.Array
    sigma: jax.Array
    weight: jax.Array
    prev_2d: jax.Array
    temporal_on: jax.Array


class FrameConstants(NamedTuple):
    """What stays fixed between identity refits: bind_identity (L, 3) landmark rows of
    template + identity; joints (K, 3) J(beta); focal (); principal_point (2,); weights."""
    bind_identity: jax.Array
    joints: jax.Array
    focal: jax.Array
    principal_point: jax.Array
    weights: RealtimeWeights


class Structure(NamedTuple):
    """Static data of a landmark set (numpy; closed over by the jitted solve)."""
    expression_basis: np.ndarray   # (L, 3, E) full rows, for residuals
    skinning_weights: np.ndarray   # (L, K)
    parents: tuple
    groups: tuple                  # ((landmark ids (n,), expression ids (m,)), ...)
    num_expression: int
    jacobian_basis: np.ndarray     # (L, 3, E) expression_basis with the entries its group drops zeroed


def analyse_sparsity(model: fm.FaceModel, landmark_set: str = "320", threshold: float = 0.01,
                     num_groups: int = 16) -> Structure:
    """Static analysis of which expressions move which landmarks.

    Landmarks are clustered by position (deterministic farthest-point seeding, then a
    few Lloyd steps); each group keeps the union of expressions that move any of its
    landmarks by more than `threshold` cm per unit weight.  Entries below the
    threshold are dropped from the Jacobian (not from the residuals).
    """
    ids = np.asarray(model.landmarks[landmark_set])
    basis = np.asarray(model.expression_basis)[ids]  # (L, 3, E)
    pos = np.asarray(model.template)[ids]
    g = min(num_groups, len(ids))
    centres = [pos[0]]
    for _ in range(g - 1):
        d = np.min([np.linalg.norm(pos - c, axis=1) for c in centres], axis=0)
        centres.append(pos[int(np.argmax(d))])
    centres = np.asarray(centres)
    for _ in range(10):
        label = np.argmin(np.linalg.norm(pos[:, None] - centres[None], axis=2), axis=1)
        centres = np.asarray([pos[label == k].mean(0) if (label == k).any() else centres[k] for k in range(g)])
    label = np.argmin(np.linalg.norm(pos[:, None] - centres[None], axis=2), axis=1)
    moves = np.linalg.norm(basis, axis=1) > threshold  # (L, E)
    groups = []
    for k in range(g):
        members = np.nonzero(label == k)[0]
        if len(members) == 0:
            continue
        support = np.nonzero(moves[members].any(0))[0]
        groups.append((members.astype(np.int32), support.astype(np.int32)))
    kept = np.zeros(moves.shape, np.float32)
    for members, support in groups:
        kept[np.ix_(members, support)] = 1.0
    return Structure(basis.astype(np.float32), np.asarray(model.skinning_weights)[ids].astype(np.float32),
                     model.joint_parents, tuple(groups), basis.shape[2], (basis * kept[:, None, :]).astype(np.float32))


def sparsity_stats(structure: Structure) -> dict:
    n = sum(len(m) for m, _ in structure.groups)
    sparse = sum(len(m) * len(s) ** 2 for m, s in structure.groups)
    return dict(num_landmarks=n, num_groups=len(structure.groups),
                mean_support=float(np.mean([len(s) for _, s in structure.groups])),
                outer_product_entries_sparse=sparse, outer_product_entries_dense=n * structure.num_expression ** 2)


def make_constants(model: fm.FaceModel, identity, landmark_set: str, focal, principal_point,
                   weights: RealtimeWeights = RealtimeWeights()) -> FrameConstants:
    ids = model.landmarks[landmark_set]
    bind = model.template[ids] + jnp.einsum("lci,i->lc", model.identity_basis[ids], identity)
    return FrameConstants(bind, fm.joint_locations(model, identity), jnp.asarray(focal, jnp.float32),
                          jnp.asarray(principal_point, jnp.float32),
                          RealtimeWeights(*(jnp.asarray(w, jnp.float32) for w in weights)))


def split(x: jax.Array, num_joints: int = 4):
    return x[:3 * num_joints].reshape(num_joints, 3), x[3 * num_joints:NUM_POSE], x[NUM_POSE:]


def pack(joint_rotations, translation, expression) -> jax.Array:
    return jnp.concatenate([joint_rotations.ravel(), translation, expression])


def _project(points, focal, pp):
    return geometry.project(points, focal, pp)


def _points(x, consts: FrameConstants, st: Structure):
    rot, trans, psi = split(x)
    bind = consts.bind_identity + jnp.einsum("lce,e->lc", st.expression_basis, psi)
    return geometry.linear_blend_skinning(bind, rot, consts.joints, st.skinning_weights, st.parents, trans)


def residuals(x, frame: FrameInput, consts: FrameConstants, st: Structure) -> jax.Array:
    w = consts.weights
    rot, _, psi = split(x)
    px = _project(_points(x, consts, st), consts.focal, consts.principal_point)
    r_lm = (jnp.sqrt(w.landmarks * frame.weight) / frame.sigma)[:, None] * (px - frame.mu)
    r_t = jnp.sqrt(2.0 * w.temporal * frame.temporal_on) * (px - frame.prev_2d)
    r_e = jnp.sqrt(2.0 * w.expression) * psi
    r_b = jnp.sqrt(2.0 * w.expression_bounds) * jnp.concatenate([jax.nn.relu(-psi), jax.nn.relu(psi - 1.0)])
    r_j = jnp.sqrt(2.0 * w.joints) * rot[1:].ravel()
    return jnp.concatenate([r_lm.ravel(), r_t.ravel(), r_e, r_b, r_j])


def energy_terms(x, frame: FrameInput, consts: FrameConstants, st: Structure) -> dict:
    """The weighted terms of this frame's energy (their sum is `cost`)."""
    w = consts.weights
    rot, _, psi = split(x)
    px = _project(_points(x, consts, st), consts.focal, consts.principal_point)
    return dict(
        landmarks=0.5 * jnp.sum(w.landmarks * frame.weight * jnp.sum((px - frame.mu) ** 2, -1) / frame.sigma ** 2),
        temporal=w.temporal * frame.temporal_on * jnp.sum((px - frame.prev_2d) ** 2),
        expression=w.expression * jnp.sum(psi ** 2),
        expression_bounds=w.expression_bounds * jnp.sum(jax.nn.relu(-psi) ** 2 + jax.nn.relu(psi - 1.0) ** 2),
        joints=w.joints * jnp.sum(rot[1:] ** 2))


def cost(x, frame, consts, st) -> jax.Array:
    r = residuals(x, frame, consts, st)
    return 0.5 * jnp.sum(r * r)


def bound_curvature(x, w: "RealtimeWeights") -> jax.Array:
    """(P,) the expression bounds' part of J^T J's diagonal at x: 2 w_bounds on each coefficient
    outside [0, 1], as `structured_normal_equations` adds it."""
    psi = split(x)[2]
    active = ((psi < 0) | (psi > 1)).astype(psi.dtype)
    return jnp.zeros_like(x).at[NUM_POSE:].set(2.0 * w.expression_bounds * active)


def structured_normal_equations(x, frame: FrameInput, consts: FrameConstants, st: Structure):
    """(J^T J, J^T r, cost) from the model's structure and the static sparsity."""
    w = consts.weights
    rot, _, psi = split(x)
    bind = consts.bind_identity + jnp.einsum("lce,e->lc", st.expression_basis, psi)

    pose = x[:NUM_POSE]

    def transforms(pose):
        return geometry.joint_transforms(pose[:12].reshape(4, 3), consts.joints, st.parents, pose[12:])

    # Joint-level forward derivatives (4 joints x 15 tangents), then per landmark by the chain
    # rule through the blend: d p_i = sum_k w_ik (dR_k b_i + dt_k).
    rk, tk = transforms(pose)
    drk, dtk = jax.jacfwd(transforms)(pose)  # (K, 3, 3, 15), (K, 3, 15)
    blended = jnp.einsum("lk,kij->lij", st.skinning_weights, rk)  # (L, 3, 3)
    pts = jnp.einsum("lij,lj->li", blended, bind) + st.skinning_weights @ tk
    dpts = (jnp.einsum("lk,kijp,lj->lip", st.skinning_weights, drk, bind) +
            jnp.einsum("lk,kip->lip", st.skinning_weights, dtk))  # (L, 3, 15)
    px = _project(pts, consts.focal, consts.principal_point)
    # Projection derivative P (L, 2, 3) for a camera looking along -z: u = cx - f X / Z, v = cy + f Y / Z.
    f = consts.focal
    X, Y, Z = pts[:, 0], pts[:, 1], pts[:, 2]
    zero = jnp.zeros_like(X)
    proj_d = jnp.stack([jnp.stack([-f / Z, zero, f * X / Z ** 2], -1),
                        jnp.stack([zero, f / Z, -f * Y / Z ** 2], -1)], 1)
    jp = jnp.einsum("lab,lbp->lap", proj_d, dpts)  # (L, 2, 15)
    a = jnp.einsum("lab,lbc->lac", proj_d, blended)  # (L, 2, 3)
    lm_w = w.landmarks * frame.weight / frame.sigma ** 2
    t_w = 2.0 * w.temporal * frame.temporal_on
    c = lm_w + t_w  # (L,) curvature weight of each landmark's two rows
    g = lm_w[:, None] * (px - frame.mu) + t_w * (px - frame.prev_2d)  # (L, 2)
    pp_block = jnp.einsum("l,lai,laj->ij", c, jp, jp)
    g_pose = jnp.einsum("lai,la->i", jp, g)
    # The expression columns with the groups' sparsity as zeros in one dense basis: three matrix
    # products over all landmarks run faster on a CPU than per-group products scattered into the
    # blocks (0.74 vs 0.83 ms for 4 LM iterations, one core; the masked basis is 58% non-zero).
    je = jnp.einsum("lab,lbm->lam", a, st.jacobian_basis)    # (L, 2, E)
    cje = c[:, None, None] * je
    ee = jnp.einsum("lam,lak->mk", cje, je)
    pe = jnp.einsum("lai,lam->im", jp, cje)
    g_expr = jnp.einsum("lam,la->m", je, g)
    # Priors: diagonal curvature and their gradients.
    active = ((psi < 0) | (psi > 1)).astype(psi.dtype)
    ee = ee + jnp.diag(2.0 * w.expression + 2.0 * w.expression_bounds * active)
    g_expr = g_expr + 2.0 * w.expression * psi + 2.0 * w.expression_bounds * (jax.nn.relu(psi - 1.0) - jax.nn.relu(-psi))
    joint_diag = jnp.zeros(NUM_POSE).at[3:12].set(2.0 * w.joints)
    pp_block = pp_block + jnp.diag(joint_diag)
    g_pose = g_pose + joint_diag * pose
    jtj = jnp.block([[pp_block, pe], [pe.T, ee]])
    jtr = jnp.concatenate([g_pose, g_expr])
    r_lm2 = jnp.sum(lm_w * jnp.sum((px - frame.mu) ** 2, -1))
    r_t2 = t_w * jnp.sum((px - frame.prev_2d) ** 2)
    prior = (w.expression * jnp.sum(psi ** 2) + w.joints * jnp.sum(rot[1:] ** 2) +
             w.expression_bounds * jnp.sum(jax.nn.relu(-psi) ** 2 + jax.nn.relu(psi - 1.0) ** 2))
    return jtj, jtr, 0.5 * r_lm2 + 0.5 * r_t2 + prior


HESSIANS = ("every", "lazy")


def solve_frame(x0, frame: FrameInput, consts: FrameConstants, st: Structure, num_iters: int = 5,
                jacobian: str = "structured", linear_solver: str = "cholesky", hessian: str = "every") -> lm.LMState:
    """LM from x0 for `num_iters` iterations. jacobian: "structured" or "dense" (jax.jacfwd
    reference); linear_solver: see `dlm.fitting.lm` ("gauss_jordan" when vmapped over a batch
    sharded over several CPU devices).  hessian: "every" (J^T J built and factorised at every
    iteration: `lm.lm_run`) or "lazy" (built at x0 and rebuilt only after a step that fails, each
    iteration a fresh gradient against it: `lm.lm_run_reused_jtj`; the expression bounds'
    curvature, which jumps as coefficients cross 0 or 1, is taken fresh)."""
    cost_fn = lambda x: cost(x, frame, consts, st)
    if jacobian == "structured":
        normal = lambda x: structured_normal_equations(x, frame, consts, st)
    elif jacobian == "dense":
        normal = lm.dense_normal_equations(lambda x: residuals(x, frame, consts, st))
    else:
        raise ValueError(f"jacobian must be 'structured' or 'dense', not {jacobian!r}")
    if hessian == "every":
        return lm.lm_run(normal, cost_fn, x0, num_iters, linear_solver=linear_solver)
    if hessian == "lazy":
        # Each step's gradient J^T r by reverse mode through the cost (cost = 0.5 |r|^2 + priors, whose
        # gradient is exactly the normal equations' right-hand side): 0.060 against 0.104 ms for the
        # structured J^T r (which forms J's blocks first) on one core of the 2-core AMD EPYC, 320
        # landmarks; equal to float32 rounding (relative 1e-5).  J^T J still comes from the structure.
        def gradient(x):
            value, grad = jax.value_and_grad(cost_fn)(x)
            return grad, value
        return lm.lm_run_reused_jtj(normal, gradient, x0, num_iters, linear_solver=linear_solver,
                                    curvature_fn=lambda x: bound_curvature(x, consts.weights))
    raise ValueError(f"hessian must be one of {HESSIANS}, not {hessian!r}")


def make_solver(st: Structure, num_iters: int = 5, jacobian: str = "structured", hessian: str = "every"):
    """A jitted (x0, frame, consts) -> LMState for one landmark set."""
    return jax.jit(lambda x0, frame, consts: solve_frame(x0, frame, consts, st, num_iters, jacobian,
                                                         hessian=hessian))


# ---------------------------------------------------------------------------
# Export: the per-frame solve as a serialised CPU artifact.

def _flat_solve(st: Structure, num_iters: int, hessian: str = "every"):
    """The per-frame solve over plain arrays (exported artifacts carry no Python types)."""
    def solve(x0, mu, sigma, weight, prev_2d, temporal_on, bind, joints, focal, pp, w):
        frame = FrameInput(mu, sigma, weight, prev_2d, temporal_on)
        consts = FrameConstants(bind, joints, focal, pp, RealtimeWeights(*[w[i] for i in range(w.shape[0])]))
        return tuple(solve_frame(x0, frame, consts, st, num_iters, hessian=hessian))
    return solve


def _flat_args(x0, frame: FrameInput, consts: FrameConstants):
    w = jnp.stack([jnp.asarray(v, jnp.float32) for v in consts.weights])
    return (x0, *frame, consts.bind_identity, consts.joints, consts.focal, consts.principal_point, w)


def export_solver(st: Structure, num_iters: int = 5, platforms=("cpu",), hessian: str = "every") -> bytes:
    """Serialise the per-frame solve (shapes fixed by the landmark set) with jax.export."""
    L, E = st.expression_basis.shape[0], st.num_expression
    spec = lambda *shape: jax.ShapeDtypeStruct(shape, jnp.float32)
    args = (spec(NUM_POSE + E), spec(L, 2), spec(L), spec(L), spec(L, 2), spec(), spec(L, 3),
            spec(len(st.parents), 3), spec(), spec(2), spec(len(RealtimeWeights._fields)))
    exp = export.export(jax.jit(_flat_solve(st, num_iters, hessian)), platforms=list(platforms))(*args)
    return bytes(exp.serialize())


def load_exported_solver(blob: bytes):
    """Deserialise an exported per-frame solve; returns a jitted (x0, frame, consts) -> LMState."""
    exp = export.deserialize(bytearray(blob))
    call = jax.jit(exp.call)
    return lambda x0, frame, consts: lm.LMState(*call(*_flat_args(x0, frame, consts)))


def structure_hash(st: Structure, num_iters: int, hessian: str = "every") -> str:
    """Identifies an exported solve: the landmark structure, iteration count and JAX version."""
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(st.expression_basis).tobytes())
    h.update(np.ascontiguousarray(st.skinning_weights).tobytes())
    for members, support in st.groups:
        h.update(members.tobytes())
        h.update(support.tobytes())
    # "masked": the normal equations' form (a cached artifact of the per-group form is not reused).
    h.update(repr((st.parents, num_iters, jax.__version__, "masked")).encode())
    # The code it was traced from, as the offline fit's kept programs are named: an edit to the solve
    # once left an older artifact in use until a tag was added here by hand.
    h.update(offline._source_digest().encode())
    if hessian != "every":   # artifacts of the default solve keep their names
        # "-reverse-gradient": the lazy solve's steps take the gradient by reverse mode (session 64).
        h.update((hessian + ("-reverse-gradient" if hessian == "lazy" else "")).encode())
    return h.hexdigest()[:16]


def cached_exported_solver(st: Structure, num_iters: int = 5, cache_dir=None, hessian: str = "every"):
    """Load the serialised per-frame solve from the cache, exporting it there first if missing.

    The artifact lives in $DLM_CACHE (default ~/.cache/dlm) as realtime-<hash>.jaxexport and is
    written atomically; a corrupt file is replaced.  Returns (solver, path).
    """
    cache_dir = cache_dir or default_cache_dir()
    path = os.path.join(cache_dir, f"realtime-{structure_hash(st, num_iters, hessian)}.jaxexport")
    if os.path.isfile(path):
        try:
            with open(path, "rb") as f:
                return load_exported_solver(f.read()), path
        except Exception:  # corrupt or from an incompatible JAX: export again
            pass
    blob = export_solver(st, num_iters, hessian=hessian)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(blob)
    return load_exported_solver(blob), path


def _solve_with_outputs(x0, frame: FrameInput, consts: FrameConstants, st: Structure, num_iters: int,
                        hessian: str = "every"):
    """The per-frame solve and what the tracker reads after it: (x, cost, fitted projections,
    energy terms, (joint rotations, translation, expression), total landmark weight)."""
    state = solve_frame(x0, frame, consts, st, num_iters, hessian=hessian)
    x = state.x
    return (x, state.cost, _project(_points(x, consts, st), consts.focal, consts.principal_point),
            energy_terms(x, frame, consts, st), split(x), jnp.sum(frame.weight))


def _landmarks_then_solve(landmark_args, x0, prev_2d, weight, consts: FrameConstants, landmark_fn,
                          st: Structure, num_iters: int, hessian: str = "every"):
    """A warm frame as one program: landmarks from `landmark_fn(*landmark_args)` -> (mu (L, 2),
    sigma (L,), extra), then the solve, so nothing returns to the host between the two."""
    mu, sigma, extra = landmark_fn(*landmark_args)
    frame = FrameInput(mu, sigma, weight, prev_2d, jnp.asarray(1.0, jnp.float32))
    out = _solve_with_outputs(x0, frame, consts, st, num_iters, hessian)
    return (mu, sigma, extra), out, pack_float32(((mu, sigma, extra), _host_part(out)))


def _solve_packed(x0, frame: FrameInput, consts: FrameConstants, st: Structure, num_iters: int,
                  hessian: str = "every"):
    """`_solve_with_outputs` and its `_host_part` packed for one fetch (`pack_float32`)."""
    out = _solve_with_outputs(x0, frame, consts, st, num_iters, hessian)
    return out, pack_float32(_host_part(out))


def _host_part(out):
    """What the host reads of a solve's outputs: cost, fitted projections, energy terms and the
    total landmark weight."""
    return out[1], out[2], out[3], out[5]


def pack_float32(tree) -> jax.Array:
    """tree's float32 arrays as one flat vector, in `jax.tree.leaves` order: the host then fetches
    one array instead of one per leaf (on one CPU core each fetch costs ~7 us, and a tracked frame
    read ~30).  Other dtypes are refused rather than converted (the values must come back exact)."""
    leaves = jax.tree.leaves(tree)
    if any(leaf.dtype != jnp.float32 for leaf in leaves):
        raise TypeError(f"pack_float32: float32 arrays only, got {sorted({str(leaf.dtype) for leaf in leaves})}")
    return jnp.concatenate([jnp.ravel(leaf) for leaf in leaves])


def unpack_float32(flat: np.ndarray, like):
    """`pack_float32`'s inverse on the host: the tree of `like` (arrays or shape structs: only
    their shapes are read) with numpy arrays cut from flat."""
    leaves, treedef = jax.tree.flatten(like)
    parts, i = [], 0
    for leaf in leaves:
        n = math.prod(leaf.shape)
        parts.append(flat[i:i + n].reshape(leaf.shape))
        i += n
    if i != flat.shape[0]:
        raise ValueError(f"unpack_float32: {flat.shape[0]} values for a tree of {i}")
    return jax.tree.unflatten(treedef, parts)


# ---------------------------------------------------------------------------
# Tracking's pure core: the state carried from frame to frame and the functions that advance it
# (RealtimeFitter below adds the compiled solver, the refit thread and the bookkeeping).

class TrackState(NamedTuple):
    """What tracking carries from one frame to the next; TrackState() is no track."""
    x: jax.Array | None = None            # (NUM_POSE + E,) the last tracked frame's solution; None: no track
    prev_2d: jax.Array | None = None      # (L, 2) its fitted projections: the temporal term's target
    identity: jax.Array | None = None     # (I,) the track's identity
    focal: float | None = None            # pixels
    consts: FrameConstants | None = None  # the per-frame constants for identity and focal
    keyframes: tuple = ()                 # the newest tracked frames, (mu, sigma, weight, x) each
    frame_index: int = 0                  # frames stepped since the identity's start (kept by `lose`)


def with_identity(state: TrackState, model: fm.FaceModel, landmark_set: str, weights: RealtimeWeights,
                  image_size, identity, focal: float) -> TrackState:
    """state with a new identity (I,) and focal length, and the per-frame constants rebuilt for them
    (principal point at the image centre)."""
    identity = jnp.asarray(identity)
    pp = jnp.asarray(image_size) / 2.0
    return state._replace(identity=identity, focal=focal,
                          consts=make_constants(model, identity, landmark_set, focal, pp, weights))


def advance(state: TrackState, mu, sigma, weight, x, prev_2d, cost: float, landmark_energy: float,
            weight_sum: float, lost_cost_per_landmark: float, num_keyframes: int, keep_keyframes: bool = True):
    """(the state after a frame's solve, lost).  Lost: the solve diverged or the landmarks are
    explained badly on average (landmark energy over lost_cost_per_landmark per unit of landmark
    weight; the temporal term does not count); a lost track keeps no solution, so the next frame
    starts cold.  A tracked frame joins the keyframes (the newest num_keyframes) when keep_keyframes."""
    lost = not explained(cost, landmark_energy, weight_sum, lost_cost_per_landmark)
    keyframes = state.keyframes
    if not lost and keep_keyframes:
        keyframes = (keyframes + ((mu, sigma, weight, x),))[-num_keyframes:]
    return state._replace(x=None if lost else x, prev_2d=prev_2d, keyframes=keyframes,
                          frame_index=state.frame_index + 1), lost


def refit_due(state: TrackState, refit_every: int, num_keyframes: int, refit_max_every: int | None = None) -> bool:
    """Whether identity and focal are refitted after this frame: as soon as num_keyframes tracked
    frames are kept (the start's identity came from one frame, or from before the track was
    lost, perhaps from someone else), then at refit_every frames and, with refit_max_every, at
    intervals that double from refit_every up to refit_max_every (30, 60, 120, 240, 480, 720, ...
    for 30 and 240); without it, every refit_every frames.  On synthetic 240-frame tracks the
    identity's error was the same either way (1.22-1.23 mm vs 1.22-1.24 mm every 30 frames,
    experiments/tracker_identity.py), for 5 refits instead of 9: each costs tens of frames of CPU."""
    if not refit_every or len(state.keyframes) != num_keyframes:
        return False
    i = state.frame_index
    if i == num_keyframes:
        return True
    if not refit_max_every or refit_max_every <= refit_every:
        return i % refit_every == 0
    due = refit_every
    while due < i and due < refit_max_every:   # doubling intervals while under the cap
        due *= 2
    if due >= i:
        return due == i
    return (i - due) % refit_max_every == 0      # then every refit_max_every frames


def cold_start(model: fm.FaceModel, image_size, config, mu, sigma, weight):
    """(x, identity, focal) of one frame fitted from nothing by the offline fitter (`config`: its
    FitConfig): identity and focal length too."""
    obs = en.Observations(mu[None, None], sigma[None, None], weight[None, None])
    res = offline.fit(model, obs, image_size, config=config)
    p = jax.tree_util.tree_map(lambda a: a[0], res.params)
    return pack(p.joint_rotations, p.translation, p.expression), res.vars.identity, float(res.cameras.focal[0])


def explained(cost: float, landmark_energy: float, weight_sum: float, lost_cost_per_landmark: float) -> bool:
    """Whether a solve explains its landmarks well enough to track on: a finite cost and a landmark
    energy of at most lost_cost_per_landmark per unit of landmark weight (the temporal term does
    not count)."""
    return bool(np.isfinite(cost)) and landmark_energy <= lost_cost_per_landmark * max(weight_sum, 1.0)


@functools.partial(jax.jit, static_argnums=(3,))
def pose_guess(mu, weight, consts: FrameConstants, num_expression: int, yaw_deg: float) -> jax.Array:
    """A starting x for a face whose identity is known: expression zero, the head turned by
    yaw_deg about its root joint, and its landmarks' centroid on the ray through the 2D
    landmarks' centroid at the depth where their 3D and 2D spreads agree (camera at the origin
    looking along -z, as in the per-frame solve).  mu (L, 2) px, weight (L,)."""
    bind = jnp.asarray(consts.bind_identity)
    p_cam = geometry.centroid_on_ray(mu, jnp.asarray(weight), bind, consts.focal, consts.principal_point)
    c3 = jnp.mean(bind, 0)
    yaw = jnp.radians(yaw_deg)
    root_rot = jnp.array([0.0, 1.0, 0.0]) * yaw
    r = geometry.axis_angle_to_matrix(root_rot)
    j0 = jnp.asarray(consts.joints)[0]
    trans = p_cam - (r @ (c3 - j0) + j0)
    num_joints = NUM_POSE // 3 - 1
    rots = jnp.zeros((num_joints, 3)).at[0].set(root_rot)
    return pack(rots, trans, jnp.zeros(num_expression))


def pose_start(solve: Callable, mu, sigma, weight, consts: FrameConstants, num_expression: int,
               yaw_starts_deg=(-40.0, 0.0, 40.0), rounds: int = 3):
    """Pose and expression of a frame whose identity and focal are known, without the offline
    fitter: one call of `solve` ((x0, frame, consts) -> a tuple starting (x, cost), such as an
    LMState or the fitter's compiled solve; no temporal term) from each yaw start, then
    `rounds` - 1 more from the best.  Returns (x, cost).  A few milliseconds where the offline
    cold start (identity too) takes 0.5-0.9 s on one CPU core."""
    frame = FrameInput(mu, sigma, weight, mu, jnp.zeros((), jnp.float32))
    best = None
    for yaw in yaw_starts_deg:
        x, c = tuple(solve(pose_guess(mu, weight, consts, num_expression, yaw), frame, consts))[:2]
        if best is None or float(c) < float(best[1]):
            best = (x, c)
    for _ in range(rounds - 1):
        best = tuple(solve(best[0], frame, consts))[:2]
    return best


def refit_identity(model: fm.FaceModel, image_size, config, keyframes, identity, focal: float):
    """(identity, focal) fitted jointly over keyframes ((mu, sigma, weight, x), ...) by the offline
    fitter, warm-started from the tracked solutions and the current identity and focal."""
    mus, sigmas, weights, xs = zip(*keyframes)
    obs = en.Observations(jnp.stack(mus)[:, None], jnp.stack(sigmas)[:, None], jnp.stack(weights)[:, None])
    xs = jnp.stack(xs)
    rot = xs[:, :12].reshape(-1, 4, 3)
    init = en.FitVars(identity, xs[:, NUM_POSE:], rot, xs[:, 12:NUM_POSE], jnp.zeros((1, 3)),
                      jnp.zeros((1, 3)), jnp.log(jnp.full((1, 1), focal / max(image_size))))
    res = offline.fit(model, obs, image_size, config=config, init=init)
    return res.vars.identity, float(res.cameras.focal[0])


# ---------------------------------------------------------------------------
# The stateful tracker.

@dataclasses.dataclass(frozen=True)
class TrackResult:
    params: fm.FaceParams     # this frame's parameters (identity included)
    camera: fm.Camera
    landmarks_2d: np.ndarray  # (L, 2) fitted projections
    cost: float               # energy of this frame after the solve
    reinitialised: bool       # True when this frame was not warm-started from the previous one
    solve_ms: float           # wall time of the per-frame solve
    energy: dict              # weighted energy terms of this frame
    _mesh: Callable = dataclasses.field(repr=False, compare=False)
    # How this frame started: "warm" (from the previous frame), "pose" (a lost track's identity
    # kept, pose found from the landmarks: `pose_start`) or "cold" (the offline fitter, identity too).
    start: str = "warm"

    @functools.cached_property
    def vertices(self) -> np.ndarray:
        """(V, 3) posed mesh, cm. Evaluated on first access: the full mesh costs more than the
        per-frame solve itself, so the frame loop does not pay for it unless it is used."""
        return np.asarray(self._mesh(self.params))


class RealtimeFitter:
    """Frame-by-frame fitting of a monocular video: a stateful wrapper around tracking's pure core
    (TrackState, `advance`, `refit_due`, `with_identity`, `cold_start`, `refit_identity`) that
    holds the compiled solver, the refit thread and the current `state`.

    The first frame is fitted by the offline fitter, which also estimates identity and focal
    length.  A frame after the track was lost (by the fitter, or by the caller's `lose`) keeps
    them and finds pose and expression from its landmarks (`pose_start`, milliseconds), falling
    back to the offline fitter when that does not explain them.  Every other
    frame runs `num_iters` solve iterations of pose and expression, warm-started from the
    previous frame, with the temporal term; `hessian` "lazy" (default) keeps J^T J while steps
    succeed and takes each iteration against a fresh gradient, "every" is plain LM (`solve_frame`).
    3 iterations (on synthetic sequences, at the default motion and three times as fast, LM's 3 left
    the landmarks within 0.001 px of 4, 5 or 8, mean and 95th percentile over frames;
    experiments/realtime_iterations.py, which also compares the two solves).
    Once `num_keyframes`
    tracked frames are kept after a start, then at `refit_every` frames and at intervals doubling
    up to `refit_max_every` (`refit_due`), identity and focal length are refitted jointly over
    those recent frames (offline fitter, warm-started, at most `refit_iters` L-BFGS iterations)
    and the per-frame constants are rebuilt; with `async_refit` (default) the refit runs in a
    worker thread and its result is applied on the first frame after it ends.  On synthetic
    240-frame tracks (experiments/tracker_identity.py) 2000 iterations every 30 frames cost 8.6 s
    of one core (every refit ran all 2000) for 1.24 mm of identity error; 300 at doubling
    intervals 0.68 s for 1.22 mm, 100 every 30 frames 0.68 s for 1.22 mm: doubling to 240 is the
    cheaper of both.  The refit runs `refit_chunk` iterations per compiled call, so a frame waits
    behind one chunk at most; but every frame while a refit runs waits behind one (on one core a
    tracked frame of the Hamilton clip took 2.7-2.8 ms instead of 1.27), so the refit's length in
    chunks sets the p90: 24 iterations (6 chunks of 4; a multiple of the chunk, or the remainder
    compiles a program of its own) overlapped 6% of the frames and left the p90 at 1.47 ms where
    100 overlapped 13% and made it 2.66 ms; the identity's error on the synthetic tracks moved by
    hundredths of a millimetre (experiments/results/tracker_identity_iters_s64.md; session 64).

    Args:
      model: face model.
      image_size: (width, height) of the frames (principal point at the centre).
      landmark_set: "320" for real time (any set works).
      solver: "jit" (default: jit-compile the structured solve in this process), "exported"
        (load the serialised artifact from the cache, exporting it once), or a callable
        (x0, frame, consts) -> LMState such as one from `load_exported_solver`.
    """

    def __init__(self, model: fm.FaceModel, image_size, landmark_set: str = "320", num_iters: int = 3,
                 weights: RealtimeWeights = RealtimeWeights(), refit_every: int = 30, num_keyframes: int = 8,
                 lost_cost_per_landmark: float = 25.0, solver=None, offline_config=None, async_refit: bool = True,
                 refit_max_every: int | None = 240, refit_iters: int = 24, refit_chunk: int | None = 4,
                 hessian: str = "lazy"):
        self.model = model
        self.image_size = (float(image_size[0]), float(image_size[1]))
        self.landmark_set = landmark_set
        self.weights = weights
        self.structure = analyse_sparsity(model, landmark_set)
        self.num_iters = num_iters
        self.hessian = hessian
        self._fused = None
        self._fused_from = {}
        if solver is None or solver == "jit":
            self.solver = make_solver(self.structure, num_iters, hessian=hessian)
            # Solve and outputs as one compiled call: one dispatch per frame instead of two, and
            # what the host reads as one packed array.
            self._fused = jax.jit(functools.partial(_solve_packed, st=self.structure, num_iters=num_iters,
                                                    hessian=hessian))
        elif solver == "exported":
            self.solver, self.exported_path = cached_exported_solver(self.structure, num_iters, hessian=hessian)
        elif callable(solver):
            self.solver = solver
        else:
            raise ValueError(f"solver must be 'jit', 'exported' or a callable, not {solver!r}")
        self.refit_every = refit_every
        self.refit_max_every = refit_max_every
        self.async_refit = async_refit
        self.num_keyframes = num_keyframes
        self.lost_cost = lost_cost_per_landmark
        self.offline_config = offline_config or offline.FitConfig(landmark_set=landmark_set, use_intersect=False)
        # Refits start warm (the tracked poses, the current identity): their iterations are capped
        # apart, and run refit_chunk at a time: XLA:CPU runs one program at a time on its thread
        # (one under --threads 1), so a frame waited behind a whole refit (100-150 ms), now behind
        # a chunk (~2 ms).
        self.refit_config = dataclasses.replace(self.offline_config, full_iters=refit_iters, full_chunk=refit_chunk)
        st = self.structure
        # After each solve: the fitted projections, the energy terms and the unpacked parameters in
        # one compiled call, fetched to the host in one transfer (eager slicing and one float() per
        # term cost more than the solve itself on one CPU thread).
        self._outputs = jax.jit(lambda x, frame, consts: (
            _project(_points(x, consts, st), consts.focal, consts.principal_point),
            energy_terms(x, frame, consts, st), split(x), jnp.sum(frame.weight)))
        mesh = jax.jit(fm.vertices)
        self._mesh = lambda params: mesh(model, params)
        # Identity refits over the fitter's life: started, applied to the track, and still running
        # when the stream ended (close() waited for them and dropped their result).
        self.refits = dict(started=0, applied=0, running_at_close=0)
        self.reset()

    @functools.lru_cache(maxsize=2)
    def _ones(self, n):
        return jnp.ones(n, jnp.float32)

    @functools.lru_cache(maxsize=2)
    def _host_ones(self, n):
        ones = np.ones(n, np.float32)
        ones.flags.writeable = False
        return ones

    # The tracking state's fields, read-only: `state` (a TrackState) is what changes.
    x = property(lambda self: self.state.x)
    prev_2d = property(lambda self: self.state.prev_2d)
    identity = property(lambda self: self.state.identity)
    focal = property(lambda self: self.state.focal)
    consts = property(lambda self: self.state.consts)
    keyframes = property(lambda self: self.state.keyframes)
    frame_index = property(lambda self: self.state.frame_index)

    def reset(self):
        # A refit still running for the old track is ignored when it finishes.
        self._generation = getattr(self, "_generation", 0) + 1
        self._pending = None
        self.state = TrackState()

    def lose(self):
        """The track is lost but the face is expected back (the tracker lost it to blur, an
        occluder or a turn): drop the pose and the keyframes, keep identity and focal length.  The
        next `step` then starts from its landmarks alone (`pose_start`: milliseconds) and falls
        back to the offline cold start (0.5-0.9 s on one core) only when that start does not
        explain them (`explained`).  The refit schedule goes on from the identity's start
        (`frame_index` is kept): a brief loss no longer brings a refit 8 frames later (the Hamilton
        clip loses its track ~30 times a pass; each had cost a refit).  A refit still running is
        applied when it ends (it is the same face's).  Use `reset` for a new stream or a
        different face."""
        st = self.state
        self.state = TrackState(identity=st.identity, focal=st.focal, consts=st.consts, frame_index=st.frame_index)

    def _set_identity(self, identity, focal):
        self.state = with_identity(self.state, self.model, self.landmark_set, self.weights, self.image_size,
                                   identity, focal)
        self._camera = fm.Camera(jnp.zeros(3), jnp.zeros(3), jnp.asarray(focal, jnp.float32),
                                 jnp.asarray(self.image_size) / 2.0)

    def _start_refit(self):
        """Refit identity and focal from the keyframes: in a worker thread when `async_refit`
        (the offline fit takes ~0.4 s warm and ~25 s to compile on one CPU thread, a stall the
        frame loop must not wait for), its result swapped in by the first frame after it ends."""
        if not self.async_refit:
            self.refits["started"] += 1
            self._refit_identity()
            self.refits["applied"] += 1
            return
        if self._pending is not None:
            return
        self.refits["started"] += 1
        snapshot = (self.state.keyframes, self.state.identity, self.state.focal, self._generation)
        box = {}

        def work():
            try:
                box["result"] = self._refit_result(*snapshot[:3])
            except Exception as e:     # reported on the frame that collects it
                box["error"] = e
        thread = threading.Thread(target=work, name="dlm-identity-refit", daemon=True)
        self._pending = (thread, box, snapshot[3])
        _live_refits.add(thread)
        thread.start()

    def _collect_refit(self):
        if self._pending is None or self._pending[0].is_alive():
            return
        _, box, generation = self._pending
        self._pending = None
        if "error" in box:
            raise box["error"]
        if generation == self._generation and self.state.identity is not None:
            self._set_identity(*box["result"])
            self.refits["applied"] += 1

    def close(self):
        """Wait for a running identity refit to end and drop its result: call when the stream
        ends.  A refit thread still inside XLA when the interpreter exits aborts the process
        (`terminate called ...`, exit status 134 or 139), though every output was written."""
        if self._pending is not None:
            self.refits["running_at_close"] += int(self._pending[0].is_alive())
            self._pending[0].join()
            _live_refits.discard(self._pending[0])
            self._pending = None

    def wait_for_refit(self):
        """Block until a running identity refit has finished and been applied (tests, benchmarks)."""
        if self._pending is not None:
            self._pending[0].join()
            self._collect_refit()

    def _refit_identity(self):
        self._set_identity(*self._refit_result(self.state.keyframes, self.state.identity, self.state.focal))

    def _refit_result(self, keyframes, identity, focal):
        return refit_identity(self.model, self.image_size, self.refit_config, keyframes, identity, focal)

    def step(self, mu, sigma, weight=None) -> TrackResult:
        """Fit one frame's landmarks: mu (L, 2) px, sigma (L,) px, weight (L,) optional."""
        n = len(self.model.landmarks[self.landmark_set])
        if np.shape(mu) != (n, 2) or np.shape(sigma) != (n,):
            raise ValueError(f"RealtimeFitter.step: expected mu ({n}, 2) and sigma ({n},), "
                             f"got {tuple(np.shape(mu))} and {tuple(np.shape(sigma))}")
        self._collect_refit()
        t0 = time.perf_counter()
        if self.state.x is not None:
            # Host arrays go to the compiled solve as they are, transferred with its call: a jnp.asarray
            # per argument and a jnp.ones per frame were an eager dispatch each (the warm step 0.59 ->
            # 0.45 ms on one core of the 2-core AMD EPYC, the program alone 0.43 ms; session 63).
            mu, sigma = np.asarray(mu, np.float32), np.asarray(sigma, np.float32)
            weight = self._host_ones(n) if weight is None else np.asarray(weight, np.float32)
            out, host = self._solve(self.state.x, FrameInput(mu, sigma, weight, self.state.prev_2d, _ONE))
            return self._commit(mu, sigma, weight, out, host, "warm", t0)
        mu = jnp.asarray(mu, jnp.float32)
        sigma = jnp.asarray(sigma, jnp.float32)
        weight = self._ones(n) if weight is None else jnp.asarray(weight, jnp.float32)
        cold = FrameInput(mu, sigma, weight, mu, jnp.zeros((), jnp.float32))
        if self.state.identity is not None:    # lost: pose and expression from the known identity
            # The per-frame program the warm frames already compiled, when there is one.
            solve = (lambda *a: self._fused(*a)[0]) if self._fused is not None else self.solver
            x = pose_start(solve, mu, sigma, weight, self.state.consts, self.structure.num_expression)[0]
            out, host = self._solve(x, cold)
            if explained(float(host[0]), float(host[2]["landmarks"]), float(host[3]), self.lost_cost):
                return self._commit(mu, sigma, weight, out, host, "pose", t0)
            self.reset()    # not this identity (or not a face it can explain): start from nothing
        x, identity, focal = cold_start(self.model, self.image_size, self.offline_config, mu, sigma, weight)
        self._set_identity(identity, focal)
        out, host = self._solve(x, cold)
        return self._commit(mu, sigma, weight, out, host, "cold", t0)

    def _solve(self, x, frame: FrameInput):
        """The per-frame solve from x and its outputs (device), with its scalars fetched to the host."""
        if self._fused is not None:
            out, flat = self._fused(x, frame, self.state.consts)
            return out, unpack_float32(np.asarray(flat), _host_part(out))
        solved = self.solver(x, frame, self.state.consts)
        out = (solved.x, solved.cost) + tuple(self._outputs(solved.x, frame, self.state.consts))
        return out, jax.device_get(_host_part(out))

    def step_from(self, landmark_fn: Callable, landmark_args: tuple, accept: Callable | None = None):
        """A warm frame whose landmarks come from a jittable `landmark_fn(*landmark_args)` ->
        (mu (L, 2) px, sigma (L,) px, extra), compiled together with the solve (one dispatch and
        one transfer per frame: on one CPU thread the landmark CNN and the solve each cost ~0.5 ms
        more when the host sits between them).  Only after a frame that left the fitter warm
        (`self.x` set; otherwise call `step`).  `accept(mu, sigma, extra)` on host arrays decides
        whether the frame counts; when it returns False the fitter's state is left unchanged.

        Returns (TrackResult or None, (mu, sigma, extra) as host arrays)."""
        if self.state.x is None or self._fused is None:
            raise RuntimeError("step_from needs a warm fitter with the 'jit' solver; call step()")
        self._collect_refit()
        t0 = time.perf_counter()
        fn = self._fused_from.get(landmark_fn)
        if fn is None:
            fn = jax.jit(functools.partial(_landmarks_then_solve, landmark_fn=landmark_fn, st=self.structure,
                                           num_iters=self.num_iters, hessian=self.hessian))
            self._fused_from = {landmark_fn: fn}
        n = len(self.model.landmarks[self.landmark_set])
        weight = self._ones(n)
        (mu, sigma, extra), out, flat = fn(landmark_args, self.state.x, self.state.prev_2d, weight, self.state.consts)
        # One fetch (the shapes come from the device arrays' metadata, no transfer).
        lm_host, host = unpack_float32(np.asarray(flat), ((mu, sigma, extra), _host_part(out)))
        if accept is not None and not accept(*lm_host):
            return None, lm_host
        return self._commit(mu, sigma, weight, out, host, "warm", t0), lm_host

    def _commit(self, mu, sigma, weight, out, host, start: str, t0: float) -> TrackResult:
        """Update the tracking state from a solve's outputs (device) and their fetched scalars."""
        x, _, px, _, (rot, trans, psi), _ = out
        cost_value, px_host, terms, wsum = host
        cost_value = float(cost_value)
        solve_ms = (time.perf_counter() - t0) * 1e3
        terms = {k: float(v) for k, v in terms.items()}
        self.state, lost = advance(self.state, mu, sigma, weight, x, px, cost_value, terms["landmarks"], float(wsum),
                                   self.lost_cost, self.num_keyframes, keep_keyframes=bool(self.refit_every))
        if not lost and refit_due(self.state, self.refit_every, self.num_keyframes, self.refit_max_every):
            self._start_refit()
        params = fm.FaceParams(self.state.identity, psi, rot, trans)
        return TrackResult(params, self._camera, px_host, cost_value, start != "warm", solve_ms, terms, self._mesh,
                           start)
