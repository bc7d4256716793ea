"""Random face scenes (identity, expression, pose, camera) drawn from priors with a PRNG key.

Used to make synthetic ground truth for fitting tests and benchmarks, and by the
synthetic data generator.  Every draw is a pure function of its key.
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from dlm.core import facemodel as fm
from dlm.core import geometry

# Named compound expressions (ARKit weights), used for sampling and in the CLI.
COMPOUND_EXPRESSIONS = {
    "smile": {"mouthSmile_L": 0.8, "mouthSmile_R": 0.8, "cheekSquint_L": 0.4, "cheekSquint_R": 0.4},
    "blink": {"eyeBlink_L": 1.0, "eyeBlink_R": 1.0},
    "wink_left": {"eyeBlink_L": 1.0, "cheekSquint_L": 0.3, "mouthSmile_L": 0.3},
    "wink_right": {"eyeBlink_R": 1.0, "cheekSquint_R": 0.3, "mouthSmile_R": 0.3},
    "jaw_open": {"jawOpen": 0.7},
    "surprise": {"jawOpen": 0.5, "browInnerUp_L": 0.8, "browInnerUp_R": 0.8, "browOuterUp_L": 0.8,
                 "browOuterUp_R": 0.8, "eyeWide_L": 0.7, "eyeWide_R": 0.7},
    "pucker": {"mouthPucker": 0.9},
    "funnel": {"mouthFunnel": 0.8, "jawOpen": 0.2},
    "sneer": {"noseSneer_L": 0.8, "noseSneer_R": 0.8, "mouthUpperUp_L": 0.5, "mouthUpperUp_R": 0.5},
    "brow_raise": {"browInnerUp_L": 0.9, "browInnerUp_R": 0.9, "browOuterUp_L": 0.9, "browOuterUp_R": 0.9},
    "frown": {"browDown_L": 0.8, "browDown_R": 0.8, "mouthFrown_L": 0.6, "mouthFrown_R": 0.6},
    "press": {"mouthPress_L": 0.7, "mouthPress_R": 0.7, "mouthRollLower": 0.3},
}


class SceneRanges(NamedTuple):
    """Ranges of the random scene (radians, cm, pixels)."""
    max_yaw: float = np.radians(90.0)
    max_pitch: float = np.radians(45.0)
    max_roll: float = np.radians(30.0)
    max_gaze: float = np.radians(25.0)
    max_neck: float = np.radians(15.0)
    # Focal length as a multiple of the image size: 1.0 is a wide phone lens, 8 a telephoto.
    min_focal_factor: float = 1.0
    max_focal_factor: float = 8.0
    # Head size in the image: the ear-to-ear width covers this fraction of the image.
    min_fill: float = 0.45
    max_fill: float = 0.75
    max_offset: float = 0.1  # of the image size
    expression_prob: float = 0.12  # chance of each ARKit shape being active
    compound_prob: float = 0.5


def compound_matrix(model: fm.FaceModel) -> jax.Array:
    """(num_compound, E) expression vectors of `COMPOUND_EXPRESSIONS` in insertion order."""
    return jnp.stack([fm.expression_vector(model, w) for w in COMPOUND_EXPRESSIONS.values()])


def sample_expression(key: jax.Array, model: fm.FaceModel, ranges: SceneRanges = SceneRanges()) -> jax.Array:
    """Sparse random ARKit activations, mixed with a named compound expression half the time."""
    k1, k2, k3, k4, k5 = jax.random.split(key, 5)
    e = model.num_expression
    active = jax.random.bernoulli(k1, ranges.expression_prob, (e,))
    sparse = jnp.where(active, jax.random.uniform(k2, (e,)) ** 1.5, 0.0)
    comp = compound_matrix(model)
    pick = jax.random.randint(k3, (), 0, comp.shape[0])
    use = jax.random.bernoulli(k4, ranges.compound_prob)
    strength = jax.random.uniform(k5, (), minval=0.3, maxval=1.0)
    psi = sparse * 0.6 + jnp.where(use, strength, 0.0) * comp[pick]
    return jnp.clip(psi, 0.0, 1.0)


def sample_pose(key: jax.Array, ranges: SceneRanges = SceneRanges()) -> jax.Array:
    """(4, 3) joint rotations: head pose mostly at the head joint, some at the neck, gaze at the eyes."""
    k1, k2, k3, k4 = jax.random.split(key, 4)
    yaw = jax.random.uniform(k1, (), minval=-ranges.max_yaw, maxval=ranges.max_yaw)
    pitch = jax.random.uniform(k2, (), minval=-ranges.max_pitch, maxval=ranges.max_pitch)
    roll = jax.random.uniform(k3, (), minval=-ranges.max_roll, maxval=ranges.max_roll)
    kn, kg = jax.random.split(k4)
    neck = jax.random.uniform(kn, (3,), minval=-ranges.max_neck, maxval=ranges.max_neck)
    gaze = jax.random.uniform(kg, (2,), minval=-ranges.max_gaze, maxval=ranges.max_gaze)
    eye = jnp.array([gaze[0], gaze[1], 0.0])
    head = jnp.array([pitch, yaw, roll])
    return jnp.stack([neck, head, eye, eye])


class Scene(NamedTuple):
    params: fm.FaceParams
    camera: fm.Camera


def sample_scene(key: jax.Array, model: fm.FaceModel, image_size: int,
                 ranges: SceneRanges = SceneRanges(), identity_scale: float = 1.0,
                 identity: jax.Array | None = None) -> Scene:
    """A face in front of a camera with the given square image size (pixels).

    The identity camera looks along -z; the head is placed so that it fills
    `min_fill`..`max_fill` of the image, at a distance set by the focal length.
    identity: (I,) this person instead of one drawn from the prior (several photos of one subject).
    """
    ki, ke, kp, kf, kd, ko = jax.random.split(key, 6)
    if identity is None:
        identity = identity_scale * jax.random.normal(ki, (model.num_identity,))
    expression = sample_expression(ke, model, ranges)
    rotations = sample_pose(kp, ranges)
    log_f = jax.random.uniform(kf, (), minval=jnp.log(ranges.min_focal_factor), maxval=jnp.log(ranges.max_focal_factor))
    focal = image_size * jnp.exp(log_f)
    fill = jax.random.uniform(kd, (), minval=ranges.min_fill, maxval=ranges.max_fill)
    head_width_cm = 16.0
    depth = focal * head_width_cm / (fill * image_size)
    offset = jax.random.uniform(ko, (2,), minval=-ranges.max_offset, maxval=ranges.max_offset) * image_size
    # Put the head joint (roughly the centre of the head) on the chosen image point.
    centre = fm.joint_locations(model, identity)[1]
    target = jnp.array([offset[0] * depth / focal, -offset[1] * depth / focal, -depth])
    params = fm.FaceParams(identity, expression, rotations, target - centre)
    cam = fm.Camera(jnp.zeros(3), jnp.zeros(3), focal, jnp.array([image_size / 2.0, image_size / 2.0]))
    return Scene(params, cam)


def arc_cameras(model: fm.FaceModel, scene: Scene, num: int, max_yaw_deg: float) -> fm.Camera:
    """`num` cameras on a horizontal arc around the head (yaw -max..max degrees), each at the
    scene camera's distance and with its intrinsics: a synchronised multi-view rig (batched over C)."""
    head = np.asarray(fm.posed_joints(model, scene.params))[1]
    d = -float(scene.params.translation[2])
    rots, trans = [], []
    for yaw in np.linspace(-max_yaw_deg, max_yaw_deg, num):
        rc = np.asarray(geometry.axis_angle_to_matrix(jnp.array([0.0, np.radians(yaw), 0.0])))
        # x_cam = R (x - head) + (0, 0, -d): the head sits d in front of every camera.
        rots.append(np.asarray(geometry.matrix_to_axis_angle(jnp.asarray(rc))))
        trans.append(-rc @ head + np.array([0.0, 0.0, -d]))
    return fm.Camera(jnp.asarray(np.stack(rots), jnp.float32), jnp.asarray(np.stack(trans), jnp.float32),
                     jnp.full((num,), scene.camera.focal),
                     jnp.broadcast_to(jnp.asarray(scene.camera.principal_point, jnp.float32), (num, 2)))


def smooth_knots(knots: jax.Array, num_frames: int) -> jax.Array:
    """(num_frames, ...) values that pass through the (K, ...) knots, spaced evenly in time, easing
    in and out of each (smoothstep between neighbours: the motion stops at a knot and turns)."""
    k = knots.shape[0]
    t = jnp.linspace(0.0, k - 1.0, num_frames)
    i = jnp.clip(jnp.floor(t).astype(jnp.int32), 0, k - 2)
    u = t - i
    w = (u * u * (3.0 - 2.0 * u)).reshape((-1,) + (1,) * (knots.ndim - 1))
    return knots[i] * (1.0 - w) + knots[i + 1] * w


def sample_sequence(key: jax.Array, model: fm.FaceModel, image_size: int, num_frames: int,
                    ranges: SceneRanges = SceneRanges(max_yaw=np.radians(40.0), max_pitch=np.radians(15.0),
                                                      max_roll=np.radians(8.0), min_fill=0.35, max_fill=0.55),
                    num_knots: int = 4, identity: jax.Array | None = None) -> Scene:
    """A short video of one person: the head turns, nods and talks smoothly in front of a still camera.

    The head's yaw swings from side to side (at least 0.3 max_yaw each way); head pose, neck, gaze, expression and a drift of the head (up to 1.5 cm) each pass smoothly
    through `num_knots` random states drawn from `ranges` (`smooth_knots`).  Returns a Scene whose
    params are batched over frames (identity (F, I), expression (F, E), joint_rotations (F, 4, 3),
    translation (F, 3)) and one camera.
    """
    kb, ke, kp, kt = jax.random.split(key, 4)
    base = sample_scene(kb, model, image_size, ranges, identity=identity)
    expr = jax.vmap(lambda k: sample_expression(k, model, ranges))(jax.random.split(ke, num_knots))
    kp, ks = jax.random.split(kp)
    pose = jax.vmap(lambda k: sample_pose(k, ranges))(jax.random.split(kp, num_knots))
    # The head turns from one side to the other between knots (a look around, as in MICC's videos).
    side = jnp.where(jax.random.bernoulli(ks), 1.0, -1.0) * (-1.0) ** jnp.arange(num_knots)
    pose = pose.at[:, 1, 1].set(side * jnp.maximum(jnp.abs(pose[:, 1, 1]), 0.3 * ranges.max_yaw))
    drift = jax.random.uniform(kt, (num_knots, 3), minval=-1.5, maxval=1.5)
    params = fm.FaceParams(jnp.broadcast_to(base.params.identity, (num_frames,) + base.params.identity.shape),
                           smooth_knots(expr, num_frames), smooth_knots(pose, num_frames),
                           base.params.translation + smooth_knots(drift, num_frames))
    return Scene(params, base.camera)


def synthetic_sequence(model, key, num_frames: int, image_size: int, landmark_set: str = "703"):
    """One identity over a smooth head motion and expression change (ground truth scenes)."""
    base = sample_scene(key, model, image_size, SceneRanges(max_yaw=0.5))
    out = []
    for f in range(num_frames):
        t = f / max(num_frames - 1, 1)
        rot = base.params.joint_rotations.at[1].add(jnp.array([0.2 * jnp.sin(3 * t), 0.6 * jnp.sin(2 * t), 0.0]))
        expr = base.params.expression.at[model.expression_names.index("jawOpen")].set(0.4 * (1 + jnp.sin(5 * t)))
        out.append(base._replace(params=base.params.replace(joint_rotations=rot, expression=expr)))
    return out
