"""Offline fitting (Section 3.3): all frames and cameras at once with L-BFGS.

This is the only module in dlm that imports jaxopt (unmaintained upstream); swap it
here if it ever has to go.  jaxopt's L-BFGS gives implicit differentiation of the
solution with respect to the energy weights and the landmarks for free.
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import importlib.metadata
import os
import pickle
import warnings
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import export as jax_export

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import jaxopt

from dlm.core import facemodel as fm
from dlm.core import geometry
from dlm.core import prior
from dlm.fitting import energy as en
from dlm.io.files import atomic_path


@dataclasses.dataclass(frozen=True)
class FitConfig:
    """Settings of the offline fitter.

    mode: "monocular" (one camera = identity, focal optimised; F frames of a video share it),
      "images" (F photos of one person, each with its own identity camera and focal length),
      "calibrated" (C cameras fixed), or "uncalibrated" (camera 0 = identity fixes the gauge;
      the other cameras' poses and every focal length are optimised).
    """
    landmark_set: str = "703"
    weights: en.EnergyWeights = en.EnergyWeights()
    mode: str = "monocular"
    rigid_iters: int = 200
    full_iters: int = 2000
    tol: float = 1e-3  # on the gradient norm in Jacobi-scaled coordinates (float32 noise is ~1e-4)
    yaw_starts_deg: tuple = (-60.0, 0.0, 60.0)
    initial_focal_factor: float = 2.0  # focal = factor * image size before fitting
    use_intersect: bool = True
    optimise_focal: bool = True
    # None: the full stage is one compiled call.  n: calls of at most n iterations each, the same
    # solve (`_chunked_solve`: for the tracker's identity refit, which shares XLA's CPU thread).
    full_chunk: int | None = None


class FitResult(NamedTuple):
    vars: en.FitVars
    params: fm.FaceParams      # batched over frames: identity (F, I), expression (F, E), ...
    cameras: fm.Camera         # batched over cameras
    energy: dict               # weighted terms at the solution
    landmarks_2d: jax.Array    # (F, C, L, 2) fitted projections
    iterations: int
    vertices: jax.Array        # (F, V, 3) posed meshes, cm


def _to_params(vars: en.FitVars) -> fm.FaceParams:
    f = vars.expression.shape[0]
    return fm.FaceParams(jnp.broadcast_to(vars.identity, (f,) + vars.identity.shape), vars.expression,
                         vars.joint_rotations, vars.translation)


def _to_cameras(vars: en.FitVars, rig: en.CameraRig) -> fm.Camera:
    """Cameras batched over C (focal (Fc, C) and principal point (Fc, C, 2) per frame in "images" mode)."""
    f = en.focal_lengths(vars, rig)
    pp = rig.principal_point
    if f.shape[0] == 1:
        f, pp = f[0], pp[0]
    return fm.Camera(vars.cam_rotation, vars.cam_translation, f, pp)


def _masked(vars: en.FitVars, mask: en.FitVars) -> en.FitVars:
    """Variables whose mask is 0 are constants to the optimiser (zero gradient)."""
    return jax.tree_util.tree_map(lambda v, m: m * v + (1 - m) * jax.lax.stop_gradient(v), vars, mask)


def _mask(vars: en.FitVars, config: FitConfig, stage: str) -> en.FitVars:
    one = lambda x: jnp.ones_like(x)
    zero = lambda x: jnp.zeros_like(x)
    rigid = stage == "rigid"
    cams_free = config.mode == "uncalibrated"
    cam_pose_mask = jnp.ones_like(vars.cam_rotation).at[0].set(0.0) if cams_free else zero(vars.cam_rotation)
    focal_free = config.optimise_focal and config.mode != "calibrated"
    rot_mask = jnp.zeros_like(vars.joint_rotations).at[:, 0].set(1.0) if rigid else one(vars.joint_rotations)
    return en.FitVars(
        identity=zero(vars.identity) if rigid else one(vars.identity),
        expression=zero(vars.expression) if rigid else one(vars.expression),
        joint_rotations=rot_mask, translation=one(vars.translation),
        cam_rotation=cam_pose_mask, cam_translation=cam_pose_mask,
        log_focal=one(vars.log_focal) if focal_free else zero(vars.log_focal))


class Problem(NamedTuple):
    """Everything the energy needs besides the variables."""
    lm_model: fm.FaceModel
    model: fm.FaceModel
    rig: en.CameraRig
    gmm: prior.GaussianMixture
    intersect: en.IntersectionData | None


def joints_only(model: fm.FaceModel) -> fm.FaceModel:
    """A zero-row model that still carries J(beta): the energy needs no more of the full
    model, and passing the full model's arrays through jaxopt makes compilation slow."""
    return fm.restrict(model, np.zeros(0, np.int32))


def _energy(u, origin, scale, mask, obs, weights, problem: Problem):
    """The energy in preconditioned coordinates: vars = origin + scale * u."""
    vars = _unscale(origin, scale, u)
    v = _masked(vars, mask)
    return en.total_energy(v, obs, problem.lm_model, problem.rig, weights, problem.gmm,
                           problem.intersect, problem.model)


def _residuals(vars, obs, problem):
    x = en.project_landmarks(problem.lm_model, vars, problem.rig)
    return (jnp.sqrt(obs.weight)[..., None] * (x - obs.mu) / obs.sigma[..., None]).ravel()


@functools.partial(jax.jit, static_argnames="num_probes")
def jacobi_scale(vars: en.FitVars, obs, weights, problem: Problem, key, num_probes: int = 16) -> en.FitVars:
    """1 / sqrt(diagonal of the Gauss-Newton Hessian), estimated with Rademacher probes.

    L-BFGS is scale-sensitive and the variables mix centimetres, radians, pixels and
    unit-variance coefficients; rescaling each by its curvature makes the problem
    round enough to converge from a cold start in a few hundred iterations.
    """
    r, vjp = jax.vjp(lambda v: _residuals(v, obs, problem), vars)
    zs = jax.random.rademacher(key, (num_probes, r.shape[0]), dtype=r.dtype)
    (g,) = jax.vmap(vjp)(zs)
    diag = jax.tree_util.tree_map(lambda x: jnp.mean(x * x, axis=0), g)
    diag = diag._replace(identity=diag.identity + 1.0, expression=diag.expression + 2.0 * weights.expression,
                         joint_rotations=diag.joint_rotations.at[:, 1:].add(2.0 * weights.joints))
    return jax.tree_util.tree_map(lambda d: 1.0 / jnp.sqrt(d + 1e-6), diag)


def _compiled_solve(maxiter: int, tol: float):
    """Jacobi scaling + L-BFGS as one jitted function: solve(vars, mask, obs, weights, problem,
    key) -> (vars, iterations).

    Calling jaxopt's `run` un-jitted re-traces its loops on every call; under one
    jax.jit a 100-iteration solve of one image takes milliseconds, not seconds.  maxiter and tol
    are arguments of the compiled program, not constants in it, so the rigid and the full stage
    of a fit (the same variables under another mask) share one program: a fit compiles one
    L-BFGS instead of two (~15-30 s each on a 2-core CPU).
    """
    return functools.partial(_solve_compiled, maxiter=maxiter, tol=tol)


@jax.jit
def _solve_compiled(vars, mask, obs, weights, problem, key, maxiter, tol):
    solver = _make_lbfgs(maxiter, tol)
    scale = jacobi_scale(vars, obs, weights, problem, key)
    u, state = solver.run(_zeros_like(vars), vars, scale, mask, obs, weights, problem)
    return _unscale(vars, scale, u), state.iter_num


def _zeros_like(tree):
    return jax.tree_util.tree_map(jnp.zeros_like, tree)


def _unscale(vars, scale, u):
    """The variables at the scaled step u from vars (the solvers work in Jacobi-scaled units)."""
    return jax.tree_util.tree_map(lambda o, s, x: o + s * x, vars, scale, u)


@functools.lru_cache(maxsize=None)
def _chunked_solve(maxiter: int, tol: float, chunk: int):
    """`_compiled_solve` as a loop of compiled calls of at most `chunk` L-BFGS iterations each,
    the solver's state carried between them: the same iterations as jaxopt's `run` (its first
    update, then updates while the error is over tol, at most maxiter in all).  For a solve that
    shares XLA's CPU thread with a real-time loop (the tracker's identity refit): XLA:CPU runs one
    program at a time on its one thread, so a frame's program waited behind a whole solve
    (100-150 ms for 300 iterations on one core) and now waits behind one chunk at most.  Both
    programs are kept exported like the one-call solve (`_kept`) when the compilation cache is on."""
    solver = _lbfgs(maxiter, tol)

    # The start holds no L-BFGS step (only the energy's value and gradient, a third of the step's
    # compile): jaxopt's init_state sets the error to infinity, so `more`'s loop takes the first
    # update as `run` does.
    def first(vars, mask, obs, weights, problem, key_data):
        scale = jacobi_scale(vars, obs, weights, problem, jax.random.wrap_key_data(key_data))
        u0 = _zeros_like(vars)
        return scale, u0, solver.init_state(u0, vars, scale, mask, obs, weights, problem)

    def more(u, state, vars, scale, mask, obs, weights, problem):
        args = (vars, scale, mask, obs, weights, problem)
        stop = state.iter_num + chunk

        def cond(c):
            return (c[1].error > tol) & (c[1].iter_num < jnp.minimum(stop, maxiter))
        return jax.lax.while_loop(cond, lambda c: tuple(solver.update(c[0], c[1], *args)), (u, state))

    jitted = jax.jit(first), jax.jit(more)
    static = repr((maxiter, tol, chunk))

    def solve(vars, mask, obs, weights, problem, key):
        if _export_folder() is None:
            start, step = jitted
        else:
            start = lambda *a: _kept("chunk-first" + static, first, a)
            step = lambda *a: _kept("chunk-more" + static, more, a)
        scale, u, state = start(vars, mask, obs, weights, problem, jax.random.key_data(key))
        while True:
            error, n = jax.device_get((state.error, state.iter_num))
            if not error > tol or n >= maxiter:
                break
            u, state = step(u, state, vars, scale, mask, obs, weights, problem)
        return _unscale(vars, scale, u), state.iter_num

    return solve


def _strong(tree):
    """Every leaf with a strong dtype: a cold start's log focal length is weakly typed (a Python
    float filled in), the rigid stage's result is not, and jit compiles each typing apart."""
    return jax.tree_util.tree_map(lambda a: jax.lax.convert_element_type(a, jnp.asarray(a).dtype), tree)


def _solve(maxiter, tol, vars, mask, obs, weights, problem, seed: int, chunk: int | None = None):
    if chunk is not None:
        out, n = _chunked_solve(maxiter, tol, chunk)(_strong(vars), _strong(mask), obs, weights, problem,
                                                     jax.random.key(seed))
    elif _export_folder() is not None:
        out, n = _kept("solve", _solve_keyed, (vars, mask, obs, weights, problem,
                                               jax.random.key_data(jax.random.key(seed)),
                                               jnp.asarray(maxiter, jnp.int32), jnp.asarray(tol, jnp.float32)))
    else:
        out, n = _compiled_solve(maxiter, tol)(_strong(vars), _strong(mask), obs, weights, problem,
                                               jax.random.key(seed))
    return out, int(n)


def _solve_keyed(vars, mask, obs, weights, problem, key_data, maxiter, tol):
    """`_solve_compiled` with its key as raw key data (exported programs take plain arrays)."""
    return _solve_compiled(vars, mask, obs, weights, problem, jax.random.wrap_key_data(key_data), maxiter, tol)


# --- The solve kept between processes -------------------------------------------------------------
# A fresh process spent ~7 s of a photo's ~12 s fit tracing `_solve_compiled` (jaxopt's L-BFGS and
# the energy's gradient) before JAX's persistent cache could hand back the compiled program.  The
# traced program is kept too: serialised with jax.export beside the compiled programs, keyed by the
# shapes of its arguments and by the source of the code it was traced from, and called from there.

_KEPT: dict = {}


def _export_folder() -> str | None:
    """Where exported solves live: beside JAX's persistent compilation cache, and only when that cache
    is on (`dlm.io.provenance.enable_compilation_cache`; both keep fitters between processes)."""
    return jax.config.jax_compilation_cache_dir or None


@functools.lru_cache(maxsize=None)
def _source_digest() -> str:
    """What an exported program was traced from: the fitting and core modules' source and the
    versions of JAX and jaxopt.  An edit to any of them names a new artifact, so a stale one is
    never called."""
    h = hashlib.sha256(repr((jax.__version__, importlib.metadata.version("jaxopt"))).encode())
    root = Path(__file__).resolve().parents[1]
    for f in sorted([*root.glob("core/*.py"), *root.glob("fitting/*.py")]):
        h.update(f.name.encode())
        h.update(f.read_bytes())
    return h.hexdigest()


def _kept(name: str, fn, args):
    """fn(*args) through its exported program: called from memory, else loaded from the export
    folder, else exported there first (written atomically; a file that does not load is exported
    again).  The file holds the serialised program and its outputs' tree structure; it is named by
    `name`, the arguments' structure and shapes, and `_source_digest()`.  One compiled form per
    file: a cold start's Python floats and a stage's uncommitted inputs would each give the program
    a second one (~2 s to load from the persistent cache), so the leaves are made strong and
    committed first."""
    leaves, treedef = jax.tree_util.tree_flatten(args)
    leaves = jax.device_put([np.asarray(a) if getattr(a, "weak_type", True) else a for a in leaves],
                            jax.devices()[0])
    memo = (_export_folder(), _source_digest(), name, treedef, tuple((a.shape, a.dtype) for a in leaves))
    entry = _KEPT.get(memo)
    if entry is None:
        signature = repr((name, str(treedef), [(a.shape, str(a.dtype)) for a in leaves], _source_digest()))
        stem = name.split("(")[0]
        path = os.path.join(_export_folder(),
                            f"offline-{stem}-{hashlib.sha256(signature.encode()).hexdigest()[:20]}.jaxexport")
        entry = _load_kept(path)
        if entry is None:
            out_tree = []

            def flat(*xs):
                out, tree = jax.tree_util.tree_flatten(fn(*jax.tree_util.tree_unflatten(treedef, xs)))
                out_tree.append(tree)
                return tuple(out)
            exp = jax_export.export(jax.jit(flat))(*(jax.ShapeDtypeStruct(a.shape, a.dtype) for a in leaves))
            try:
                with atomic_path(path) as tmp:
                    with open(tmp, "wb") as f:
                        pickle.dump((bytes(exp.serialize()), out_tree[0]), f)
            except OSError:   # a read-only or full cache: this process still calls the program
                pass
            entry = (jax.jit(exp.call), out_tree[0])
        _KEPT[memo] = entry
    call, out_tree = entry
    return jax.tree_util.tree_unflatten(out_tree, call(*leaves))


def _load_kept(path: str):
    """(jitted call, output tree) from a kept file, or None when it is missing or does not load
    (truncated, or written by an incompatible JAX).  The file is dlm's own, in dlm's cache, beside
    JAX's compiled programs, which are no less trusted."""
    if not os.path.isfile(path):
        return None
    try:
        with open(path, "rb") as f:
            blob, out_tree = pickle.load(f)
        return jax.jit(jax_export.deserialize(bytearray(blob)).call), out_tree
    except Exception:
        return None


def initial_vars(model: fm.FaceModel, obs: en.Observations, rig: en.CameraRig, lm_model: fm.FaceModel,
                 cameras: fm.Camera | None, config: FitConfig) -> en.FitVars:
    """Cold start: zero shape, root translation from the landmarks' centroid and spread in camera 0."""
    return _initial_vars_jit(model.num_identity, model.num_expression, model.num_joints, obs, rig, lm_model,
                             cameras, config.initial_focal_factor)


@functools.partial(jax.jit, static_argnums=(0, 1, 2))
def _initial_vars_jit(num_identity, num_expression, num_joints, obs, rig, lm_model, cameras, initial_focal_factor):
    F, C, L, _ = obs.mu.shape
    if cameras is not None:
        cam_rot, cam_trans = jnp.asarray(cameras.rotation), jnp.asarray(cameras.translation)
        log_focal = jnp.log(jnp.broadcast_to(jnp.asarray(cameras.focal, jnp.float32), rig.focal_scale.shape)
                            / rig.focal_scale)
    else:
        cam_rot, cam_trans = jnp.zeros((C, 3)), jnp.zeros((C, 3))
        log_focal = jnp.full(rig.focal_scale.shape, jnp.log(initial_focal_factor))
    pts = fm.vertices(lm_model, fm.FaceParams.zeros(lm_model))  # (L, 3) template landmarks
    c3 = pts.mean(0)
    focal0 = rig.focal_scale[:, 0] * jnp.exp(log_focal[:, 0])  # (Fc,)
    # The centroid on the ray through the 2D centroid, in camera 0 coordinates, then into the
    # world (camera 0 may be calibrated and not the identity).
    p_cam = geometry.centroid_on_ray(obs.mu[:, 0], obs.weight[:, 0], pts, focal0, rig.principal_point[:, 0])
    r0 = geometry.axis_angle_to_matrix(cam_rot[0])
    p_world = (p_cam - cam_trans[0]) @ r0  # R^T (p - t)
    # Face the camera: the head's +z axis towards camera 0's centre.
    facing = geometry.matrix_to_axis_angle(r0.T) if cameras is not None else jnp.zeros(3)
    rots = jnp.zeros((F, num_joints, 3)).at[:, 0].set(facing)
    return en.FitVars(identity=jnp.zeros(num_identity), expression=jnp.zeros((F, num_expression)),
                      joint_rotations=rots, translation=p_world - c3,
                      cam_rotation=cam_rot, cam_translation=cam_trans, log_focal=log_focal)


def _make_lbfgs(maxiter, tol, implicit_diff=False):
    """The fits' L-BFGS.  maxiter and tol may be traced (`_solve_compiled`).  Its loops, the
    iterations and each zoom line search, are while loops that stop when done: jaxopt's default
    without implicit differentiation is a scan over maxiter (maxls) steps whose steps after
    convergence are no-ops, a static length and 2,000 (30) conditionals whatever the solve needs.
    The same iterates either way."""
    # Implicit differentiation solves H v = g with the Hessian H of the energy at the solution,
    # which is symmetric positive semi-definite there: conjugate gradients, not jaxopt's default
    # CG on the normal equations (that squares the condition number and gave wrong gradients).
    solve = functools.partial(jaxopt.linear_solve.solve_cg, maxiter=2000, tol=1e-7)
    return jaxopt.LBFGS(fun=_energy, maxiter=maxiter, tol=tol, implicit_diff=implicit_diff, jit=True, unroll=False,
                        implicit_diff_solve=solve,
                        history_size=20, linesearch="zoom", maxls=30)


# One solver per setting where the setting is a constant, so jaxopt's compiled step is reused.
_lbfgs = functools.lru_cache(maxsize=None)(_make_lbfgs)


@jax.jit
def _rotate_root(vars: en.FitVars, yaw: jax.Array) -> en.FitVars:
    """Compose a yaw about the head's vertical axis with the current root rotation."""
    r = geometry.axis_angle_to_matrix(vars.joint_rotations[:, 0])
    ry = geometry.axis_angle_to_matrix(jnp.array([0.0, 1.0, 0.0]) * yaw)
    new = geometry.matrix_to_axis_angle(r @ ry)
    return vars._replace(joint_rotations=vars.joint_rotations.at[:, 0].set(new))


@jax.jit
def _per_frame_landmark_energy(vars, obs, problem):
    x = en.project_landmarks(problem.lm_model, vars, problem.rig)
    return jnp.sum(obs.weight * jnp.sum((x - obs.mu) ** 2, -1) / (2 * obs.sigma ** 2), axis=(1, 2))


def fit(model: fm.FaceModel, obs: en.Observations, image_size, cameras: fm.Camera | None = None,
        config: FitConfig = FitConfig(), gmm: prior.GaussianMixture | None = None,
        init: en.FitVars | None = None) -> FitResult:
    """Fit the face model to probabilistic landmarks of F frames seen by C cameras.

    Args:
      model: the face model.
      obs: landmarks of `config.landmark_set`, mu (F, C, L, 2), sigma (F, C, L), weight (F, C, L).
      image_size: (width, height) shared by all cameras, or a (C, 2) array.
      cameras: required for mode "calibrated" (fixed); optional initial guess otherwise.
      gmm: identity prior; default ICT's N(0, I).
      init: warm start (skips the rigid stage).
    """
    obs = en.Observations(*(jnp.asarray(a, jnp.float32) for a in obs))
    F, C, L, _ = obs.mu.shape
    if L != len(model.landmarks[config.landmark_set]):
        raise ValueError(f"observations have {L} landmarks but set {config.landmark_set!r} has "
                         f"{len(model.landmarks[config.landmark_set])}")
    if config.mode == "calibrated" and cameras is None:
        raise ValueError("mode 'calibrated' needs cameras")
    if config.mode in ("monocular", "images") and C != 1:
        raise ValueError(f"mode 'monocular' takes one camera, got {C}")
    if config.mode == "images" and C != 1:
        raise ValueError(f"mode 'images' takes one camera per frame (C = 1), got {C}")
    if config.mode not in ("monocular", "images", "calibrated", "uncalibrated"):
        raise ValueError(f"unknown fitting mode {config.mode!r}")
    rig = make_rig(image_size, F if config.mode == "images" else 1, C, cameras)
    lm_model = fm.restrict(model, model.landmarks[config.landmark_set])
    gmm = gmm or prior.standard_normal_prior(model.num_identity)
    intersect = en.make_intersection_data(model) if config.use_intersect else None
    problem = Problem(lm_model, joints_only(model), rig, gmm, intersect)
    weights = en.EnergyWeights(*(jnp.asarray(w, jnp.float32) for w in config.weights))
    iters = 0
    if init is None and config.mode == "uncalibrated" and cameras is None and C > 1:
        cameras = _cameras_from_single_views(model, obs, image_size, config, gmm)
    if init is None:
        vars = _initial_vars_jit(model.num_identity, model.num_expression, model.num_joints, obs, rig, lm_model,
                                 cameras, config.initial_focal_factor)
        rigid_mask = _mask(vars, config, "rigid")
        rigid_w = weights._replace(temporal=jnp.zeros(()), intersect=jnp.zeros(()))
        best, best_e = None, None
        starts = config.yaw_starts_deg if config.mode in ("monocular", "images") else (0.0,)
        for yaw in starts:
            v0 = _rotate_root(vars, jnp.radians(yaw))
            sol, n = _solve(config.rigid_iters, config.tol, v0, rigid_mask, obs, rigid_w, problem, 0)
            iters += n
            e = _per_frame_landmark_energy(sol, obs, problem)
            if best is None:
                best, best_e = sol, e
            else:  # keep the better start per frame; shared camera values from the better total
                take = e < best_e
                sel = lambda a, b: jnp.where(take.reshape((-1,) + (1,) * (a.ndim - 1)), a, b)
                better = jnp.sum(e) < jnp.sum(best_e)
                best = best._replace(joint_rotations=sel(sol.joint_rotations, best.joint_rotations),
                                     translation=sel(sol.translation, best.translation),
                                     log_focal=(sel(sol.log_focal, best.log_focal) if config.mode == "images"
                                                else jnp.where(better, sol.log_focal, best.log_focal)),
                                     cam_rotation=jnp.where(better, sol.cam_rotation, best.cam_rotation),
                                     cam_translation=jnp.where(better, sol.cam_translation, best.cam_translation))
                best_e = jnp.minimum(e, best_e)
        vars = best
    else:
        vars = init
    mask = _mask(vars, config, "full")
    vars, n = _solve(config.full_iters, config.tol, vars, mask, obs, weights, problem, 1,
                     config.full_chunk)
    iters += n
    terms, landmarks_2d = _final_terms(vars, obs, problem, weights)
    params = _to_params(vars)
    return FitResult(vars=vars, params=params, cameras=_to_cameras(vars, rig),
                     energy={k: float(v) for k, v in terms.items()},
                     landmarks_2d=landmarks_2d, iterations=iters,
                     vertices=_posed_vertices(model, params))


@jax.jit
def _final_terms(vars, obs, problem: Problem, weights):
    """Weighted energy terms and fitted projections at the solution (one compiled call: run
    eagerly these were a few hundred small compilations, seconds per fit)."""
    terms = en.energy_terms(vars, obs, problem.lm_model, problem.rig, weights, problem.gmm, problem.intersect,
                            problem.model)
    return terms, en.project_landmarks(problem.lm_model, vars, problem.rig)


@jax.jit
def _posed_vertices(model, params):
    return jax.vmap(lambda p: fm.vertices(model, p))(params)


def _cameras_from_single_views(model, obs, image_size, config, gmm) -> fm.Camera:
    """Initial extrinsics of unknown cameras: fit frame 0 in each view alone, then relate the views.

    With the head's rigid pose in camera c written A_c(x) = R_c (x - J) + J + t_c (rotation about
    the neck joint J, then translation) and the world taken as camera 0's frame, camera c maps
    world points y to A_c(A_0^-1(y)): rotation R_c R_0^T, translation b_c - R_c R_0^T b_0 with
    b_c = J - R_c J + t_c.
    """
    C = obs.mu.shape[1]
    sizes = jnp.broadcast_to(jnp.asarray(image_size, jnp.float32).reshape(-1, 2), (C, 2))
    single = dataclasses.replace(config, mode="monocular", use_intersect=False)
    rots, ts, focals = [], [], []
    for c in range(C):
        sub = en.Observations(obs.mu[:1, c:c + 1], obs.sigma[:1, c:c + 1], obs.weight[:1, c:c + 1])
        res = fit(model, sub, sizes[c], config=single, gmm=gmm)
        j = fm.joint_locations(model, res.vars.identity)[0]
        r = geometry.axis_angle_to_matrix(res.vars.joint_rotations[0, 0])
        rots.append(r)
        ts.append(j - r @ j + res.vars.translation[0])
        focals.append(res.cameras.focal[0])
    cam_r, cam_t = [], []
    for c in range(C):
        rel = rots[c] @ rots[0].T
        cam_r.append(geometry.matrix_to_axis_angle(rel))
        cam_t.append(ts[c] - rel @ ts[0])
    return fm.Camera(jnp.stack(cam_r), jnp.stack(cam_t), jnp.stack(focals), sizes / 2.0)


def solve_differentiable(vars0: en.FitVars, obs: en.Observations, weights: en.EnergyWeights, problem: Problem,
                         mode: str = "monocular", maxiter: int = 500, tol: float = 1e-7) -> en.FitVars:
    """The full-stage solve as a differentiable function of (obs, weights).

    Gradients of anything computed from the returned variables flow back to the
    landmarks and the energy weights by implicit differentiation of the optimality
    condition grad E = 0 (jaxopt), not by unrolling the iterations.
    """
    mask = _mask(vars0, FitConfig(mode=mode), "full")
    solver = _lbfgs(maxiter, tol, implicit_diff=True)
    # The preconditioner is a constant of the solve: implicit differentiation needs only
    # the optimality condition, which holds in any fixed coordinates.
    scale = jax.lax.stop_gradient(jacobi_scale(vars0, obs, weights, problem, jax.random.key(1)))
    u0 = jax.tree_util.tree_map(jnp.zeros_like, vars0)
    u = solver.run(u0, vars0, scale, mask, obs, weights, problem).params
    return _unscale(vars0, scale, u)


def make_rig(image_size, num_intrinsics: int, num_cameras: int, cameras: fm.Camera | None = None) -> en.CameraRig:
    """Intrinsics of shape (Fc, C): image_size is (W, H), (C, 2) or (Fc, C, 2)."""
    sizes = jnp.asarray(image_size, jnp.float32)
    sizes = jnp.broadcast_to(sizes.reshape((1,) * (3 - sizes.ndim) + sizes.shape), (num_intrinsics, num_cameras, 2))
    if cameras is None:
        pp = sizes / 2.0
    else:
        pp = jnp.broadcast_to(jnp.asarray(cameras.principal_point, jnp.float32), sizes.shape)
    return en.CameraRig(principal_point=pp, focal_scale=sizes.max(-1))


def make_problem(model: fm.FaceModel, image_size, num_cameras: int = 1, landmark_set: str = "703",
                 gmm=None, use_intersect: bool = True, num_intrinsics: int = 1, cameras=None) -> Problem:
    return Problem(fm.restrict(model, model.landmarks[landmark_set]), joints_only(model),
                   make_rig(image_size, num_intrinsics, num_cameras, cameras),
                   gmm or prior.standard_normal_prior(model.num_identity),
                   en.make_intersection_data(model) if use_intersect else None)


def fit_one_traced(mu, sigma, weight, size, problem_parts, config: FitConfig):
    """The offline fit of one photo (F = C = 1) as one traceable function (no host syncs), what
    `dlm.fitting.batch` vmaps: the rigid starts of `fit` (best total landmark energy), then the
    full solve.  mu (L, 2), sigma (L,), weight (L,), size (2,); problem_parts (lm_model,
    joints-only model, gmm, intersect or None).  Returns (params, focal, principal point,
    fitted projections (L, 2), landmark energy)."""
    lm_model, jmodel, gmm, intersect = problem_parts
    obs = en.Observations(mu[None, None], sigma[None, None], weight[None, None])
    rig = make_rig(size, 1, 1)
    problem = Problem(lm_model, jmodel, rig, gmm, intersect)
    w = en.EnergyWeights(*(jnp.asarray(v, jnp.float32) for v in config.weights))
    vars = _initial_vars_jit(lm_model.num_identity, lm_model.num_expression, lm_model.num_joints, obs, rig,
                                     lm_model, None, config.initial_focal_factor)
    rigid_mask = _mask(vars, config, "rigid")
    rigid_w = w._replace(temporal=jnp.zeros(()), intersect=jnp.zeros(()))
    rigid = _compiled_solve(config.rigid_iters, config.tol)

    # The starts in a loop (lax.map), not unrolled: XLA inlines every call of a solver, so three
    # unrolled rigid solves compiled three L-BFGS programs (the batch fitter took ~50 s to compile
    # on a 2-core CPU, ~60% of it the three starts).  The first start of least energy wins, as before.
    def start(yaw):
        sol, _ = rigid(_rotate_root(vars, yaw), rigid_mask, obs, rigid_w, problem, jax.random.key(0))
        return sol, jnp.sum(_per_frame_landmark_energy(sol, obs, problem))
    sols, energies = jax.lax.map(start, jnp.radians(jnp.asarray(config.yaw_starts_deg, jnp.float32)))
    best = jax.tree_util.tree_map(lambda a: a[jnp.argmin(energies)], sols)
    mask = _mask(best, config, "full")
    sol, _ = _compiled_solve(config.full_iters, config.tol)(best, mask, obs, w, problem, jax.random.key(1))
    x2d = en.project_landmarks(lm_model, sol, rig)[0, 0]
    e = jnp.sum(_per_frame_landmark_energy(sol, obs, problem))
    focal = en.focal_lengths(sol, rig)[0, 0]
    params = fm.FaceParams(sol.identity, sol.expression[0], sol.joint_rotations[0], sol.translation[0])
    return params, focal, rig.principal_point[0, 0], x2d, e
