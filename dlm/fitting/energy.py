"""The model-fitting energy of Section 3.2, as pure differentiable functions.

    E = E_landmarks + E_identity + E_expression + E_joints + E_temporal + E_intersect
        (+ E_expression_bounds, dlm's addition: keeps ARKit weights in [0, 1])

Shapes: F frames, C cameras, L landmarks, I identity modes, E expressions.
Parameters Phi (`FitVars`): identity shared by all frames; expression, joint rotations
and root translation per frame; rotation and translation per camera; log focal length per
camera, or per frame and camera for a set of photos each with its own lens ("images" mode).
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from dlm.core import facemodel as fm
from dlm.core import geometry
from dlm.core import prior


class Observations(NamedTuple):
    """Probabilistic 2D landmarks.

    mu: (F, C, L, 2) pixels; sigma: (F, C, L) pixels; weight: (F, C, L) 1 for an
    observed landmark, 0 for a missing one (outside the image, no detection).
    """
    mu: jax.Array
    sigma: jax.Array
    weight: jax.Array


class FitVars(NamedTuple):
    """The optimisation variables Phi."""
    identity: jax.Array          # (I,)
    expression: jax.Array        # (F, E)
    joint_rotations: jax.Array   # (F, K, 3)
    translation: jax.Array       # (F, 3)
    cam_rotation: jax.Array      # (C, 3) axis-angle, world to camera
    cam_translation: jax.Array   # (C, 3)
    log_focal: jax.Array         # (Fc, C), Fc in {1, F}: focal = focal_scale * exp(log_focal)


class CameraRig(NamedTuple):
    """Fixed intrinsics: principal_point (Fc, C, 2) px; focal_scale (Fc, C) px (focal at log_focal = 0).
    Fc is 1 when intrinsics are shared by all frames, F when each frame has its own."""
    principal_point: jax.Array
    focal_scale: jax.Array


class EnergyWeights(NamedTuple):
    """Weights of the energy terms (floats or 0-d arrays, so they can be differentiated).

    temporal is 0 by default (independent images); for a video, 0.01-0.1 trades jitter
    against lag (it multiplies squared pixel motion between neighbouring frames).
    """
    landmarks: float = 1.0
    identity: float = 1.0
    expression: float = 1.0
    joints: float = 1.0
    temporal: float = 0.0
    intersect: float = 10.0
    expression_bounds: float = 100.0


class IntersectionData(NamedTuple):
    """Precomputed rows for E_intersect (paper Fig. 7), all in the head's bind pose.

    skin_model: restricted model over the skin vertices tested (lips and eyelids);
    skin_eye: (S,) 0 = near teeth, 1 = near left eye, 2 = near right eye;
    teeth_model: restricted model over a sample of teeth vertices; teeth_arch: (T,) 0 upper, 1 lower;
    directions: (D, 3) unit normals of the bounding polytope of each arch;
    sclera_model: restricted model over sclera samples; sclera_eye: (Q,) 0 left, 1 right.
    """
    skin_model: fm.FaceModel
    skin_eye: jax.Array
    teeth_model: fm.FaceModel
    teeth_arch: jax.Array
    directions: jax.Array
    sclera_model: fm.FaceModel
    sclera_eye: jax.Array


def fibonacci_directions(n: int) -> np.ndarray:
    i = np.arange(n) + 0.5
    phi = np.arccos(1 - 2 * i / n)
    theta = np.pi * (1 + 5 ** 0.5) * i
    return np.stack([np.cos(theta) * np.sin(phi), np.sin(theta) * np.sin(phi), np.cos(phi)], 1)


def make_intersection_data(model: fm.FaceModel, num_directions: int = 64, stride: int = 8) -> IntersectionData:
    """Choose skin vertices around the mouth and eyes, and samples of teeth and sclera."""
    t = np.asarray(model.template)
    part = np.asarray(model.vertex_part)
    names = model.part_names
    face = part == names.index("face")
    mouth_centre = np.array([0.0, -3.0, 9.0])
    near_mouth = face & (np.linalg.norm((t - mouth_centre) * [0.8, 1.2, 1.0], axis=1) < 3.5)
    joints = np.asarray(model.joint_template)
    near_eye = [face & (np.linalg.norm(t - joints[k], axis=1) < 2.2) for k in (2, 3)]
    groups = [np.nonzero(near_mouth)[0][::3]] + [np.nonzero(m)[0][::3] for m in near_eye]
    skin_ids = np.concatenate(groups)
    skin_eye = np.concatenate([np.full(len(g), k) for k, g in enumerate(groups)])
    teeth = np.nonzero(part == names.index("teeth"))[0]
    upper = teeth[teeth < 19247][::stride]
    lower = teeth[teeth >= 19247][::stride]
    sclera = np.concatenate([np.arange(21451, 22221)[::8], np.arange(23021, 23791)[::8]])
    data = IntersectionData(
        skin_model=fm.restrict(model, skin_ids), skin_eye=jnp.asarray(skin_eye),
        teeth_model=fm.restrict(model, np.concatenate([upper, lower])),
        teeth_arch=jnp.asarray(np.concatenate([np.zeros(len(upper), int), np.ones(len(lower), int)])),
        directions=jnp.asarray(fibonacci_directions(num_directions), jnp.float32),
        sclera_model=fm.restrict(model, sclera),
        sclera_eye=jnp.asarray(np.concatenate([np.zeros(len(sclera) // 2, int), np.ones(len(sclera) // 2, int)])))
    # Skin that touches the eyeballs or lies within the teeth's bounding polytope in the
    # neutral template is in contact by design (eyelids rest on the eyes): leave it out.
    depth = np.asarray(jax.jit(penetration_depths)(data, model, jnp.zeros(model.num_identity),
                                                   jnp.zeros(model.num_expression)))  # one program, not dozens
    keep = depth <= 0.0
    return data._replace(skin_model=fm.restrict(model, skin_ids[keep]), skin_eye=jnp.asarray(skin_eye[keep]))


def intersection_energy(data: IntersectionData, model: fm.FaceModel, identity: jax.Array,
                        expression: jax.Array) -> jax.Array:
    """Sum of squared penetration depths (cm^2) of skin into eyeballs and teeth, one frame."""
    return jnp.sum(penetration_depths(data, model, identity, expression) ** 2)


def penetration_depths(data: IntersectionData, model: fm.FaceModel, identity: jax.Array,
                       expression: jax.Array) -> jax.Array:
    """Penetration depth (S,) in cm of each tested skin vertex (0 when outside).

    Eyeballs are spheres about their joints (radius from the identity's sclera);
    each dental arch is bounded by a polytope with fixed face normals whose offsets
    are the support function max_i n . v_i of the arch's current vertices, a tight
    outer approximation of its convex hull that is differentiable and jit-friendly.
    All tested geometry is rigid to the head (or to an eye joint about its centre),
    so the test is done in the bind pose.
    """
    skin = fm.bind_pose(data.skin_model, identity, expression)
    teeth = fm.bind_pose(data.teeth_model, identity, expression)
    sclera = fm.bind_pose(data.sclera_model, identity, jnp.zeros_like(expression))
    joints = fm.joint_locations(model, identity)
    centres = joints[2:4]  # (2, 3)
    r_sclera = jnp.linalg.norm(sclera - centres[data.sclera_eye], axis=1)
    radius = jax.ops.segment_sum(r_sclera, data.sclera_eye, 2) / jax.ops.segment_sum(
        jnp.ones_like(r_sclera), data.sclera_eye, 2)
    # Eyes: skin vertices near eye k must stay outside sphere k.
    is_eye = data.skin_eye > 0
    eye_k = jnp.clip(data.skin_eye - 1, 0, 1)
    dist = jnp.linalg.norm(skin - centres[eye_k], axis=1)
    eye_pen = jnp.where(is_eye, jax.nn.relu(radius[eye_k] - dist), 0.0)
    # Teeth: support offsets h (2, D) per arch, penetration = min_d (h_d - n_d . x) if positive.
    proj = teeth @ data.directions.T  # (T, D)
    h = jax.ops.segment_max(proj, data.teeth_arch, 2)  # (2, D)
    skin_proj = skin @ data.directions.T  # (S, D)
    depth = jnp.min(h[:, None, :] - skin_proj[None, :, :], axis=2)  # (2, S)
    teeth_pen = jnp.where(is_eye, 0.0, jnp.max(jax.nn.relu(depth), axis=0))
    return eye_pen + teeth_pen


# ---------------------------------------------------------------------------

def focal_lengths(vars: FitVars, rig: CameraRig) -> jax.Array:
    return rig.focal_scale * jnp.exp(vars.log_focal)


def frame_params(vars: FitVars, f: int | jax.Array) -> fm.FaceParams:
    return fm.FaceParams(vars.identity, vars.expression[f], vars.joint_rotations[f], vars.translation[f])


def landmark_points(lm_model: fm.FaceModel, vars: FitVars) -> jax.Array:
    """World positions (F, L, 3) of the landmarks; `lm_model` is `fm.restrict(model, ids)`."""
    def one(expr, rot, trans):
        return fm.vertices(lm_model, fm.FaceParams(vars.identity, expr, rot, trans))
    return jax.vmap(one)(vars.expression, vars.joint_rotations, vars.translation)


def project_landmarks(lm_model: fm.FaceModel, vars: FitVars, rig: CameraRig) -> jax.Array:
    """Projections x (F, C, L, 2) of the landmarks into every camera."""
    pts = landmark_points(lm_model, vars)
    focal = focal_lengths(vars, rig)

    def cam(rot, trans, f, pp):  # f (Fc,), pp (Fc, 2)
        pc = geometry.world_to_camera(pts, rot, trans)  # (F, L, 3)
        return geometry.project(pc, f[:, None], pp[:, None])  # (F, L, 2)

    x = jax.vmap(cam, in_axes=(0, 0, 1, 1))(vars.cam_rotation, vars.cam_translation, focal,
                                             rig.principal_point)  # (C, F, L, 2)
    return jnp.swapaxes(x, 0, 1)


def energy_terms(vars: FitVars, obs: Observations, lm_model: fm.FaceModel, rig: CameraRig,
                 weights: EnergyWeights, gmm: prior.GaussianMixture,
                 intersect: IntersectionData | None = None, model: fm.FaceModel | None = None) -> dict:
    """Each weighted term of the energy (scalars); their sum is the energy."""
    x = project_landmarks(lm_model, vars, rig)
    r2 = jnp.sum((x - obs.mu) ** 2, axis=-1)
    e_lm = jnp.sum(obs.weight * r2 / (2.0 * obs.sigma ** 2))
    e_id = prior.identity_energy(gmm, vars.identity)
    e_expr = jnp.sum(vars.expression ** 2)
    e_joints = jnp.sum(vars.joint_rotations[:, 1:] ** 2)  # the root (neck) is not penalised
    e_temp = jnp.sum((x[1:] - x[:-1]) ** 2) if x.shape[0] > 1 else jnp.zeros(())
    e_bounds = jnp.sum(jax.nn.relu(-vars.expression) ** 2 + jax.nn.relu(vars.expression - 1.0) ** 2)
    if intersect is not None and model is not None:
        e_int = jnp.sum(jax.vmap(lambda e: intersection_energy(intersect, model, vars.identity, e))(vars.expression))
    else:
        e_int = jnp.zeros(())
    return dict(landmarks=weights.landmarks * e_lm, identity=weights.identity * e_id,
                expression=weights.expression * e_expr, joints=weights.joints * e_joints,
                temporal=weights.temporal * e_temp, intersect=weights.intersect * e_int,
                expression_bounds=weights.expression_bounds * e_bounds)


def total_energy(*args, **kwargs) -> jax.Array:
    return sum(energy_terms(*args, **kwargs).values())
