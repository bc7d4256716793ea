"""Rendering a face scene: region classes, visible geometry, head-centred crops, shading and
landmark visibility.  Builds on `dlm.synth.raster` (work in progress toward the synthetic data issue).
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from dlm.core import facemodel as fm
from dlm.core import geometry
from dlm.synth import raster

REGION_NAMES = ("background", "skin", "hair", "eyebrows", "sclera", "iris", "teeth", "mouth_interior",
                "neck_clothing", "occluder")
SCLERA = ((21451, 22220), (23021, 23790))
IRIS = ((22221, 23020), (23791, 24590))
# The front of ICT's sclera mesh is a transparent cornea over the iris (a shader effect);
# an opaque z-buffer must leave it out or the iris is hidden.  Polar angle of the limbus.
CORNEA_DEG = 33.0


def vertex_regions(model: fm.FaceModel) -> np.ndarray:
    """(V,) region class of each vertex (skin, sclera, iris, teeth, mouth interior)."""
    part = np.asarray(model.vertex_part)
    names = model.part_names
    reg = np.full(model.num_vertices, REGION_NAMES.index("skin"), np.int32)
    for p in ("mouth_socket", "gums_tongue"):
        reg[part == names.index(p)] = REGION_NAMES.index("mouth_interior")
    reg[part == names.index("teeth")] = REGION_NAMES.index("teeth")
    for a, b in SCLERA:
        reg[a:b + 1] = REGION_NAMES.index("sclera")
    for a, b in IRIS:
        reg[a:b + 1] = REGION_NAMES.index("iris")
    return reg


def opaque_faces(model: fm.FaceModel) -> np.ndarray:
    """Triangles drawn by an opaque renderer: all but the corneal cap of each sclera."""
    faces = np.asarray(model.faces)
    t = np.asarray(model.template)
    joints = np.asarray(model.joint_template)
    keep = np.ones(len(faces), bool)
    for (a, b), centre in zip(SCLERA, joints[2:4]):
        in_sclera = (faces >= a).all(1) & (faces <= b).all(1)
        d = t[faces].mean(1) - centre
        polar = np.degrees(np.arccos(np.clip(d[:, 2] / np.linalg.norm(d, axis=1), -1, 1)))
        keep &= ~(in_sclera & (polar < CORNEA_DEG))
    return faces[keep]


def facing_signs(faces: np.ndarray) -> np.ndarray:
    """(F,) back-face culling signs for `raster.rasterize`: every ICT part is consistently
    oriented (each shared edge appears once in each direction) with front faces counter-clockwise
    on a y-down screen, so all triangles take -1.  Measured: over 16 random scenes every visible
    pixel came from such a triangle, including the mouth socket and eye sockets, and a test
    checks that culling leaves the image unchanged."""
    return -np.ones(len(faces), np.float32)


def head_crop_camera(model: fm.FaceModel, params: fm.FaceParams, camera: fm.Camera, size: int,
                     fill: float = 0.8, landmark_set: str = "68") -> fm.Camera:
    """The camera of a square `size` crop centred on the face, the landmarks' box filling `fill` of it.

    A crop of an image is the same pinhole camera with a shifted principal point and a
    scaled focal length, so rendering the crop directly costs no resampling.
    """
    px = fm.project_points(camera, fm.landmark_vertices(model, params, landmark_set))
    lo, hi = px.min(0), px.max(0)
    centre = (lo + hi) / 2.0
    scale = fill * size / jnp.max(hi - lo)
    return camera.replace(focal=camera.focal * scale,
                          principal_point=(camera.principal_point - centre) * scale + size / 2.0)


class Render(NamedTuple):
    image: jax.Array        # (H, W, 3) float32 in [0, 1]
    regions: jax.Array      # (H, W) int32 region class (0 background)
    fragments: raster.Fragments


def sh_basis(n: jax.Array) -> jax.Array:
    """Real spherical harmonics up to order 2 of unit normals (..., 3) -> (..., 9)."""
    x, y, z = n[..., 0], n[..., 1], n[..., 2]
    return jnp.stack([0.282095 * jnp.ones_like(x), 0.488603 * y, 0.488603 * z, 0.488603 * x,
                      1.092548 * x * y, 1.092548 * y * z, 0.315392 * (3 * z * z - 1), 1.092548 * x * z,
                      0.546274 * (x * x - y * y)], -1)


def vertex_normals(verts: jax.Array, faces: jax.Array) -> jax.Array:
    a, b, c = verts[faces[:, 0]], verts[faces[:, 1]], verts[faces[:, 2]]
    fn = jnp.cross(b - a, c - a)
    vn = jnp.zeros_like(verts).at[faces[:, 0]].add(fn).at[faces[:, 1]].add(fn).at[faces[:, 2]].add(fn)
    return vn / (jnp.linalg.norm(vn, axis=-1, keepdims=True) + 1e-12)


def render(verts_world: jax.Array, faces: jax.Array, camera: fm.Camera, size: int, albedo: jax.Array,
           regions: jax.Array, sh_light: jax.Array, levels: tuple = raster.DEFAULT_LEVELS,
           cull: jax.Array | None = None) -> Render:
    """Lambertian shading under order-2 spherical-harmonic light (9, 3), per-vertex albedo (V, 3).

    Normals and light are in camera space; `regions` (V,) gives the class of each vertex
    (a triangle takes its first vertex's class).
    """
    cam = geometry.world_to_camera(verts_world, camera.rotation, camera.translation)
    px = geometry.project(cam, camera.focal, camera.principal_point)
    frags = raster.rasterize(px, -cam[:, 2], faces, size, size, levels, cull)
    normals = vertex_normals(cam, faces)
    shading = sh_basis(normals) @ sh_light  # (V, 3)
    colour = raster.interpolate(frags, faces, albedo * jnp.clip(shading, 0.0, None))
    tri = jnp.maximum(frags.triangle, 0)
    reg = jnp.where(frags.triangle >= 0, regions[faces[tri, 0]], 0)
    return Render(jnp.clip(colour, 0.0, 1.0), reg, frags)


def landmark_visibility(frags: raster.Fragments, pixels: jax.Array, depth: jax.Array, tolerance: float = 0.3,
                        pixel_regions: jax.Array | None = None, landmark_regions: jax.Array | None = None) -> jax.Array:
    """(L,) True where a landmark is inside the image and not hidden.

    Not hidden: its depth is within `tolerance` (cm) of the depth buffer at its pixel and,
    when region maps are given, the pixel shows the landmark's own region (so a tooth just
    behind a lip, within the tolerance, still counts as hidden).
    """
    h, w = frags.depth.shape
    ix = jnp.floor(pixels[:, 0]).astype(jnp.int32)
    iy = jnp.floor(pixels[:, 1]).astype(jnp.int32)
    inside = (ix >= 0) & (ix < w) & (iy >= 0) & (iy < h)
    cy, cx = jnp.clip(iy, 0, h - 1), jnp.clip(ix, 0, w - 1)
    ok = inside & (depth <= frags.depth[cy, cx] + tolerance)
    if pixel_regions is not None and landmark_regions is not None:
        ok &= pixel_regions[cy, cx] == landmark_regions
    return ok
