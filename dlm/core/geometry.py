"""Rotations, linear blend skinning and the pinhole camera, as pure JAX functions.

Conventions (used everywhere in dlm):
  * Model/world space follows ICT FaceKit: centimetres, x to the subject's left,
    y up, z out of the face (towards a viewer in front of the face).
  * Camera space uses the same handedness as OpenGL: x right, y up, and the camera
    looks along -z.  With an identity world-to-camera transform, a head at
    translation (0, 0, -d) looks straight into the camera.
  * Image space: x right, y down, in pixels; the top-left corner of the top-left
    pixel is (0, 0), so pixel centres are at integer + 0.5.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


def axis_angle_to_matrix(rotvec: jax.Array) -> jax.Array:
    """Rodrigues' formula, differentiable at zero.

    Args:
      rotvec: (..., 3) float32 axis-angle vectors (radians).
    Returns:
      (..., 3, 3) rotation matrices.
    """
    theta2 = jnp.sum(rotvec * rotvec, axis=-1, keepdims=True)[..., None]  # (..., 1, 1)
    small = theta2 < 1e-8
    safe2 = jnp.where(small, 1.0, theta2)
    theta = jnp.sqrt(safe2)
    # sin(t)/t and (1-cos(t))/t^2 with Taylor expansions near zero.
    a = jnp.where(small, 1.0 - theta2 / 6.0, jnp.sin(theta) / theta)
    b = jnp.where(small, 0.5 - theta2 / 24.0, (1.0 - jnp.cos(theta)) / safe2)
    x, y, z = rotvec[..., 0], rotvec[..., 1], rotvec[..., 2]
    zero = jnp.zeros_like(x)
    k = jnp.stack([zero, -z, y, z, zero, -x, -y, x, zero], axis=-1).reshape(rotvec.shape[:-1] + (3, 3))
    eye = jnp.eye(3, dtype=rotvec.dtype)
    return eye + a * k + b * (k @ k)


def matrix_to_quaternion(rot: jax.Array) -> jax.Array:
    """(..., 3, 3) rotation -> (..., 4) unit quaternion (w, x, y, z), w >= 0 (Shepperd's method)."""
    m = rot
    t = jnp.stack([1 + m[..., 0, 0] + m[..., 1, 1] + m[..., 2, 2], 1 + m[..., 0, 0] - m[..., 1, 1] - m[..., 2, 2],
                   1 - m[..., 0, 0] + m[..., 1, 1] - m[..., 2, 2], 1 - m[..., 0, 0] - m[..., 1, 1] + m[..., 2, 2]], -1)
    k = jnp.argmax(t, axis=-1)
    s = 0.5 / jnp.sqrt(jnp.maximum(jnp.take_along_axis(t, k[..., None], -1)[..., 0], 1e-12))
    d10, d01 = m[..., 1, 0], m[..., 0, 1]
    d20, d02 = m[..., 2, 0], m[..., 0, 2]
    d21, d12 = m[..., 2, 1], m[..., 1, 2]
    cands = jnp.stack([
        jnp.stack([0.25 / s, (d21 - d12) * s, (d02 - d20) * s, (d10 - d01) * s], -1),
        jnp.stack([(d21 - d12) * s, 0.25 / s, (d01 + d10) * s, (d02 + d20) * s], -1),
        jnp.stack([(d02 - d20) * s, (d01 + d10) * s, 0.25 / s, (d12 + d21) * s], -1),
        jnp.stack([(d10 - d01) * s, (d02 + d20) * s, (d12 + d21) * s, 0.25 / s], -1)], -2)
    q = jnp.take_along_axis(cands, k[..., None, None], -2)[..., 0, :]
    q = q * jnp.where(q[..., :1] < 0, -1.0, 1.0)
    return q / jnp.linalg.norm(q, axis=-1, keepdims=True)


def matrix_to_axis_angle(rot: jax.Array) -> jax.Array:
    """Inverse of `axis_angle_to_matrix`, angles in [0, pi], stable near 0 and near pi. (..., 3, 3) -> (..., 3)."""
    q = matrix_to_quaternion(rot)
    w, v = q[..., :1], q[..., 1:]
    n = jnp.linalg.norm(v, axis=-1, keepdims=True)
    angle = 2.0 * jnp.arctan2(n, w)
    small = n < 1e-7
    return v * jnp.where(small, 2.0, angle / jnp.where(small, 1.0, n))


def joint_transforms(joint_rotations: jax.Array, joints: jax.Array, parents: tuple,
                     translation: jax.Array) -> tuple[jax.Array, jax.Array]:
    """World transforms of a kinematic chain.

    Args:
      joint_rotations: (K, 3) local axis-angle rotation of each joint.
      joints: (K, 3) bind-pose joint locations.
      parents: length-K tuple of parent indices (-1 for the root); parents precede children.
      translation: (3,) root translation added after rotation.
    Returns:
      rot: (K, 3, 3) world rotation of each joint.
      trans: (K, 3) such that a bind-pose point p skinned rigidly to joint k maps
        to rot[k] @ p + trans[k].
    """
    local = axis_angle_to_matrix(joint_rotations)
    rots, origins = [], []
    for k, p in enumerate(parents):
        if p < 0:
            rots.append(local[k])
            origins.append(joints[k] + translation)
        else:
            rots.append(rots[p] @ local[k])
            origins.append(rots[p] @ (joints[k] - joints[p]) + origins[p])
    rot = jnp.stack(rots)
    origin = jnp.stack(origins)
    trans = origin - jnp.einsum("kij,kj->ki", rot, joints)
    return rot, trans


def linear_blend_skinning(verts: jax.Array, joint_rotations: jax.Array, joints: jax.Array,
                          weights: jax.Array, parents: tuple, translation: jax.Array) -> jax.Array:
    """L(V, theta, J; W) of the paper: standard linear blend skinning.

    Args:
      verts: (N, 3) bind-pose vertices.
      joint_rotations: (K, 3) axis-angle per joint.
      joints: (K, 3) bind-pose joint locations.
      weights: (N, K) skinning weights, rows sum to 1.
      parents: length-K tuple of parent indices.
      translation: (3,) root translation.
    Returns:
      (N, 3) posed vertices.
    """
    rot, trans = joint_transforms(joint_rotations, joints, parents, translation)
    # Blend the K affine transforms per vertex: n = vertex, k = joint.
    blended_rot = jnp.einsum("nk,kij->nij", weights, rot)
    blended_trans = weights @ trans
    return jnp.einsum("nij,nj->ni", blended_rot, verts) + blended_trans


def world_to_camera(points: jax.Array, rotation: jax.Array, translation: jax.Array) -> jax.Array:
    """Rigid transform x_cam = R x + t.

    Args:
      points: (..., 3) world points.
      rotation: (3,) axis-angle or (3, 3) matrix.
      translation: (3,).
    """
    rmat = axis_angle_to_matrix(rotation) if rotation.shape == (3,) else rotation
    return points @ rmat.T + translation


def project(points_cam: jax.Array, focal: jax.Array, principal_point: jax.Array) -> jax.Array:
    """Pinhole projection of camera-space points (camera looks along -z, y up): the one
    projection of the project, used by the renderer, the fitters and the drawings.

    Args:
      points_cam: (..., 3) points in camera space; visible points have z < 0.
      focal: focal length in pixels: a scalar, or an array broadcasting against points_cam[..., 0].
      principal_point: (..., 2) in pixels (image x right, y down), its leading axes broadcasting
        likewise.
    Returns:
      (..., 2) pixel coordinates: u = cx + f x / (-z), v = cy - f y / (-z).  A numpy array given
      numpy points (float64, no JAX dispatch: drawing code calls it per frame, where eager JAX
      compiled per call); a JAX array otherwise.
    """
    xp = np if isinstance(points_cam, np.ndarray) else jnp
    pp = xp.asarray(principal_point)
    depth = -points_cam[..., 2]
    u = pp[..., 0] + focal * points_cam[..., 0] / depth
    v = pp[..., 1] - focal * points_cam[..., 1] / depth
    return xp.stack([u, v], axis=-1)


def centroid_on_ray(mu: jax.Array, weight: jax.Array, points: jax.Array, focal: jax.Array,
                    principal_point: jax.Array) -> jax.Array:
    """Where `points`' centroid sits in camera space when they are seen as the 2D landmarks mu:
    on the ray through mu's weighted centroid, at the depth where the points' spread (in their
    own x-y plane, i.e. seen face-on) and mu's spread agree; the inverse of `project` for a
    rough placement (both fitters' starts).

    Args:
      mu: (..., L, 2) pixels; weight: (..., L), zero for landmarks that do not count.
      points: (L, 3) the same landmarks on the model, any pose facing +z.
      focal: a scalar or (...,) pixels; principal_point: (2,) or (..., 2) pixels.
    Returns:
      (..., 3) camera-space point (camera looks along -z, y up).
    """
    wsum = jnp.maximum(jnp.sum(weight, -1), 1.0)
    c2 = jnp.sum(weight[..., None] * mu, -2) / wsum[..., None]
    spread_2d = jnp.sqrt(jnp.sum(weight * jnp.sum((mu - c2[..., None, :]) ** 2, -1), -1) / wsum)
    c3 = jnp.mean(points, 0)
    spread_3d = jnp.sqrt(jnp.mean(jnp.sum((points[:, :2] - c3[:2]) ** 2, -1)))
    depth = focal * spread_3d / jnp.maximum(spread_2d, 1e-3)
    pp = jnp.asarray(principal_point)
    return jnp.stack([(c2[..., 0] - pp[..., 0]) * depth / focal, -(c2[..., 1] - pp[..., 1]) * depth / focal, -depth],
                     -1)
