"""Synthetic training data (work in progress toward the synthetic data issue).

What exists: random identity, expression, pose and camera (`dlm.scenes`), a head-centred
crop, per-vertex albedo by region with a random skin tone and low-frequency blotches, random
spherical-harmonic light, a procedural background, region masks and per-landmark
visibility.  Not yet: hair, eyebrows, textures, clothing, glasses, occluders, photographic
backgrounds and image augmentation.

Pixel convention of the labels: x right, y down, the top-left corner of the image is (0, 0)
and pixel centres are at integer + 0.5 (as everywhere in dlm).
"""
from __future__ import annotations

import os
import shutil
import tempfile
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from dlm import facemodel as fm, geometry, scenes
from dlm.io import write_npz_deterministic
from dlm.render import scene as rs

# Skin albedo from very light to very dark (linear RGB), interpolated by a random tone.
SKIN_LIGHT = np.array([0.85, 0.68, 0.58], np.float32)
SKIN_DARK = np.array([0.18, 0.11, 0.07], np.float32)


class Sample(NamedTuple):
    image: np.ndarray      # (S, S, 3) uint8 RGB
    mask: np.ndarray       # (S, S) uint8 region class, 0 background
    landmarks: np.ndarray  # (L, 2) float32 pixels
    visible: np.ndarray    # (L,) bool
    params: fm.FaceParams
    camera: fm.Camera


class Assets(NamedTuple):
    faces: jax.Array
    regions: jax.Array
    template: jax.Array
    lip_weight: jax.Array  # (V,) 1 on the lips, 0 elsewhere (soft)


def make_assets(model: fm.FaceModel) -> Assets:
    t = np.asarray(model.template)
    mouth = np.asarray(model.template)[np.asarray(model.landmarks["68"])[48:68]]
    d = np.min(np.linalg.norm(t[:, None] - mouth[None], axis=2), axis=1)
    lips = np.clip(1.0 - d / 0.6, 0.0, 1.0) * (np.asarray(model.vertex_part) == 0)
    return Assets(jnp.asarray(rs.opaque_faces(model)), jnp.asarray(rs.vertex_regions(model)),
                  jnp.asarray(t), jnp.asarray(lips, jnp.float32))


def sample_albedo(key, assets: Assets) -> jax.Array:
    """Per-vertex albedo (V, 3): skin tone with blotches, lips, eyes, teeth, mouth interior."""
    k1, k2, k3, k4, k5 = jax.random.split(key, 5)
    tone = jax.random.uniform(k1) ** 1.3
    skin = SKIN_LIGHT * (1 - tone) + SKIN_DARK * tone
    # Low-frequency blotches: a few random plane waves over the template.
    freqs = jax.random.normal(k2, (6, 3)) * 0.6
    phases = jax.random.uniform(k3, (6,)) * 2 * jnp.pi
    field = jnp.sin(assets.template @ freqs.T + phases).mean(1, keepdims=True)  # (V, 1)
    skin_v = skin * (1.0 + 0.12 * field)
    lip = skin * jnp.array([1.05, 0.65, 0.65]) * jax.random.uniform(k4, (), minval=0.7, maxval=1.0)
    skin_v = skin_v * (1 - assets.lip_weight[:, None]) + lip * assets.lip_weight[:, None]
    iris = jax.random.uniform(k5, (3,), minval=0.05, maxval=0.5)
    table = jnp.stack([jnp.zeros(3), jnp.zeros(3), jnp.zeros(3), jnp.zeros(3), jnp.array([0.85, 0.83, 0.8]),
                       iris, jnp.array([0.9, 0.87, 0.78]), jnp.array([0.35, 0.08, 0.08]), jnp.zeros(3),
                       jnp.zeros(3)])
    per_region = table[assets.regions]
    return jnp.where((assets.regions == rs.REGION_NAMES.index("skin"))[:, None], skin_v, per_region)


def sample_light(key) -> jax.Array:
    """(9, 3) order-2 SH light: ambient plus a random key light, slightly coloured."""
    k1, k2, k3 = jax.random.split(key, 3)
    direction = jax.random.normal(k1, (3,))
    direction = direction.at[2].set(jnp.abs(direction[2]) + 0.5)  # mostly from the camera side
    direction = direction / jnp.linalg.norm(direction)
    colour = 1.0 + 0.15 * jax.random.normal(k2, (3,))
    strength = jax.random.uniform(k3, (), minval=0.6, maxval=1.6)
    sh = rs.sh_basis(direction)[:, None] * strength * colour[None] * 2.0
    return sh.at[0].add(0.9)


def sample_background(key, size: int) -> jax.Array:
    """(S, S, 3) smooth random gradient with noise, in [0, 1]."""
    k1, k2, k3 = jax.random.split(key, 3)
    corners = jax.random.uniform(k1, (2, 2, 3))
    u = jnp.linspace(0.0, 1.0, size)
    grad = (corners[0, 0] * (1 - u)[:, None, None] * (1 - u)[None, :, None] +
            corners[0, 1] * (1 - u)[:, None, None] * u[None, :, None] +
            corners[1, 0] * u[:, None, None] * (1 - u)[None, :, None] +
            corners[1, 1] * u[:, None, None] * u[None, :, None])
    noise = jax.random.normal(k2, (size, size, 1)) * jax.random.uniform(k3, (), maxval=0.06)
    return jnp.clip(grad + noise, 0.0, 1.0)


def render_sample(key, model: fm.FaceModel, assets: Assets, size: int, landmark_set: str = "703") -> Sample:
    k_scene, k_alb, k_light, k_bg, k_fill = jax.random.split(key, 5)
    sc = scenes.sample_scene(k_scene, model, size)
    fill = float(jax.random.uniform(k_fill, (), minval=0.55, maxval=0.8))
    cam = rs.head_crop_camera(model, sc.params, sc.camera, size, fill=fill)
    verts = fm.vertices(model, sc.params)
    r = rs.render(verts, assets.faces, cam, size, sample_albedo(k_alb, assets), assets.regions, sample_light(k_light))
    bg = sample_background(k_bg, size)
    img = jnp.where((r.regions > 0)[..., None], r.image, bg)
    img = jnp.clip(img, 0, 1) ** (1 / 2.2)  # linear to display
    ids = model.landmarks[landmark_set]
    pc = geometry.world_to_camera(verts[ids], cam.rotation, cam.translation)
    px = geometry.project(pc, cam.focal, cam.principal_point)
    vis = rs.landmark_visibility(r.fragments, px, -pc[:, 2], pixel_regions=r.regions,
                                 landmark_regions=assets.regions[ids])
    return Sample(np.asarray(jnp.round(img * 255)).astype(np.uint8), np.asarray(r.regions).astype(np.uint8),
                  np.asarray(px, np.float32), np.asarray(vis), sc.params, cam)


def write_dataset(out_dir, num: int, size: int, seed: int, landmark_set: str = "703", progress=None) -> dict:
    """Render `num` samples into out_dir/{images,masks}/NNNNNN.png and out_dir/labels.npz.

    Everything is written into a temporary folder next to out_dir and renamed at the end,
    so an interrupted run leaves no half-written dataset.  out_dir must not exist or be empty.
    """
    import cv2
    from dlm import facemodel
    out_dir = os.path.abspath(out_dir)
    if os.path.exists(out_dir) and (not os.path.isdir(out_dir) or os.listdir(out_dir)):
        raise FileExistsError(f"{out_dir}: exists and is not an empty folder; choose a new --out")
    if num < 1 or size < 32:
        raise ValueError(f"need --num >= 1 and --size >= 32, got {num} and {size}")
    model = facemodel.load_face_model()
    assets = make_assets(model)
    parent = os.path.dirname(out_dir)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".synth-", dir=parent)
    try:
        os.makedirs(os.path.join(tmp, "images"))
        os.makedirs(os.path.join(tmp, "masks"))
        key = jax.random.key(seed)
        lms, vis, ident, expr, rots, trans, focal, pp = [], [], [], [], [], [], [], []
        for i in range(num):
            s = render_sample(jax.random.fold_in(key, i), model, assets, size, landmark_set)
            cv2.imwrite(os.path.join(tmp, "images", f"{i:06d}.png"), s.image[..., ::-1])
            cv2.imwrite(os.path.join(tmp, "masks", f"{i:06d}.png"), s.mask)
            lms.append(s.landmarks)
            vis.append(s.visible)
            ident.append(np.asarray(s.params.identity))
            expr.append(np.asarray(s.params.expression))
            rots.append(np.asarray(s.params.joint_rotations))
            trans.append(np.asarray(s.params.translation))
            focal.append(float(s.camera.focal))
            pp.append(np.asarray(s.camera.principal_point))
            if progress:
                progress(i + 1, num)
        write_npz_deterministic(os.path.join(tmp, "labels.npz"), dict(
            landmarks=np.stack(lms), visible=np.stack(vis), identity=np.stack(ident), expression=np.stack(expr),
            joint_rotations=np.stack(rots), translation=np.stack(trans), focal=np.asarray(focal, np.float32),
            principal_point=np.stack(pp), landmark_set=np.array(landmark_set), seed=np.array(seed),
            pixel_convention=np.array("x right, y down, pixel centres at integer + 0.5"),
            region_names=np.array(rs.REGION_NAMES)))
        if os.path.isdir(out_dir):
            os.rmdir(out_dir)
        os.replace(tmp, out_dir)
    finally:
        if os.path.exists(tmp):
            shutil.rmtree(tmp)
    return dict(out=out_dir, num=num, size=size, seed=seed, landmark_set=landmark_set)
