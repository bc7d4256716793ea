"""A z-buffer rasteriser in pure JAX (same code on CPU and GPU).

Each triangle tests the pixels of a K x K window at the top-left of its bounding
box (K static, at least the largest bounding box), keeps the pixel centres inside
it, and the nearest candidate per pixel wins through two scatters (min depth, then
the triangle id among the candidates at that depth).  Barycentrics are
perspective-correct: 1/z is interpolated linearly in screen space.

Conventions: pixel coordinates x right, y down, pixel (i, j) covers [i, i+1) x [j, j+1)
and is sampled at its centre (i + 0.5, j + 0.5); depth is the positive distance along
the viewing direction (-z in dlm's camera space).
"""
from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np


class Fragments(NamedTuple):
    """Per-pixel rasterisation output.

    triangle: (H, W) int32 triangle index, -1 for background.
    barycentric: (H, W, 3) float32 perspective-correct barycentrics (zero on background).
    depth: (H, W) float32 distance along the view direction (inf on background).
    overflow: () int32 number of triangles too large for the windows (0: exact).
    """
    triangle: jax.Array
    barycentric: jax.Array
    depth: jax.Array
    overflow: jax.Array


def window_size(pixels: np.ndarray, faces: np.ndarray) -> int:
    """Smallest power of two that covers every triangle's bounding box (a static argument)."""
    p = np.asarray(pixels)[np.asarray(faces)]
    extent = np.ceil(np.max(p.max(1) - p.min(1))) + 1
    return int(2 ** np.ceil(np.log2(max(extent, 1.0))))


def _edge(ax, ay, bx, by, px, py):
    return (bx - ax) * (py - ay) - (by - ay) * (px - ax)


def _candidates(tri, z, tri_ids, window, height, width, near):
    """Pixel index, depth and triangle id of every pixel centre inside each triangle's K x K window."""
    x0 = jnp.floor(jnp.min(tri[..., 0], axis=1) - 0.5).astype(jnp.int32) + 1  # first centre >= min x
    y0 = jnp.floor(jnp.min(tri[..., 1], axis=1) - 0.5).astype(jnp.int32) + 1
    off = jnp.arange(window, dtype=jnp.int32)
    ix = x0[:, None, None] + off[None, None, :]  # (F, 1, K)
    iy = y0[:, None, None] + off[None, :, None]  # (F, K, 1)
    cx = ix.astype(jnp.float32) + 0.5
    cy = iy.astype(jnp.float32) + 0.5
    (ax, ay), (bx, by), (qx, qy) = [(tri[:, k, 0][:, None, None], tri[:, k, 1][:, None, None]) for k in range(3)]
    area = _edge(ax, ay, bx, by, qx, qy)
    safe_area = jnp.where(jnp.abs(area) < 1e-12, 1.0, area)
    l0 = _edge(bx, by, qx, qy, cx, cy) / safe_area
    l1 = _edge(qx, qy, ax, ay, cx, cy) / safe_area
    l2 = _edge(ax, ay, bx, by, cx, cy) / safe_area
    inside = (l0 >= 0) & (l1 >= 0) & (l2 >= 0) & (jnp.abs(area) >= 1e-12)
    inside &= (ix >= 0) & (ix < width) & (iy >= 0) & (iy < height)
    inside &= jnp.all(z > near, axis=1)[:, None, None]
    z0, z1, z2 = z[:, 0][:, None, None], z[:, 1][:, None, None], z[:, 2][:, None, None]
    frag_z = 1.0 / jnp.where(inside, l0 / z0 + l1 / z1 + l2 / z2, 1.0)
    pix = jnp.where(inside, iy * width + ix, height * width)  # misses go to a dump slot
    ids = jnp.broadcast_to(tri_ids[:, None, None], pix.shape)
    return pix.reshape(-1), jnp.where(inside, frag_z, jnp.inf).reshape(-1), ids.reshape(-1)


@functools.partial(jax.jit, static_argnames=("height", "width", "window", "large_window", "max_large", "near"))
def rasterize(pixels: jax.Array, depth: jax.Array, faces: jax.Array, height: int, width: int, window: int,
              large_window: int = 0, max_large: int = 0, near: float = 1e-3) -> Fragments:
    """Rasterise triangles.

    Args:
      pixels: (V, 2) float32 projected vertices.
      depth: (V,) float32 positive depths; triangles with a vertex nearer than `near` are skipped.
      faces: (F, 3) int32.
      height, width: image size.
      window: K; every triangle whose bounding box fits K x K pixels is drawn completely.
      large_window, max_large: the `max_large` triangles with the largest bounding boxes are also
        drawn with a `large_window` window.  A face mesh at training resolution has a few hundred
        large triangles among tens of thousands of tiny ones, so two levels cost a fraction of one
        large window for all.  `Fragments.overflow` counts triangles too large for both levels
        (drawn incompletely): 0 means the image is exact.
    """
    tri = pixels[faces]  # (F, 3, 2)
    z = depth[faces]     # (F, 3)
    num = faces.shape[0]
    all_ids = jnp.arange(num, dtype=jnp.int32)
    extent = jnp.max(jnp.max(tri, axis=1) - jnp.min(tri, axis=1), axis=1)  # (F,)
    pix, fz, fid = _candidates(tri, z, all_ids, window, height, width, near)
    too_big = extent + 1.0 > window
    overflow = jnp.sum(too_big)
    if max_large > 0:
        _, big = jax.lax.top_k(extent, min(max_large, num))
        p2, z2, i2 = _candidates(tri[big], z[big], big.astype(jnp.int32), large_window, height, width, near)
        pix, fz, fid = jnp.concatenate([pix, p2]), jnp.concatenate([fz, z2]), jnp.concatenate([fid, i2])
        overflow = jnp.sum(too_big & (extent + 1.0 > large_window)) + jnp.maximum(
            jnp.sum(too_big) - min(max_large, num), 0)
    n_pix = height * width
    zbuf = jnp.full(n_pix + 1, jnp.inf, jnp.float32).at[pix].min(fz)
    winner = (fz == zbuf[pix]) & jnp.isfinite(fz)
    ids = jnp.full(n_pix + 1, -1, jnp.int32).at[pix].max(jnp.where(winner, fid, -1))
    ids = ids[:n_pix]
    zimg = zbuf[:n_pix]
    # Perspective-correct barycentrics of the winning triangle at each pixel centre.
    t = jnp.maximum(ids, 0)
    ptri, pz = tri[t], z[t]  # (P, 3, 2), (P, 3)
    py, px = jnp.divmod(jnp.arange(n_pix, dtype=jnp.int32), width)
    cxp, cyp = px.astype(jnp.float32) + 0.5, py.astype(jnp.float32) + 0.5
    (ax, ay), (bx, by), (qx, qy) = [(ptri[:, k, 0], ptri[:, k, 1]) for k in range(3)]
    area = _edge(ax, ay, bx, by, qx, qy)
    area = jnp.where(jnp.abs(area) < 1e-12, 1.0, area)
    lin = jnp.stack([_edge(bx, by, qx, qy, cxp, cyp), _edge(qx, qy, ax, ay, cxp, cyp),
                     _edge(ax, ay, bx, by, cxp, cyp)], -1) / area[:, None]
    persp = lin / pz
    bary = persp / jnp.sum(persp, axis=-1, keepdims=True)
    bary = jnp.where((ids >= 0)[:, None], bary, 0.0)
    return Fragments(ids.reshape(height, width), bary.reshape(height, width, 3), zimg.reshape(height, width),
                     overflow.astype(jnp.int32))


def interpolate(fragments: Fragments, faces: jax.Array, attributes: jax.Array, background=0.0) -> jax.Array:
    """Per-pixel attribute (H, W, C) from per-vertex attributes (V, C) and the fragments."""
    t = jnp.maximum(fragments.triangle, 0)
    vals = attributes[faces[t]]  # (H, W, 3, C)
    out = jnp.einsum("hwk,hwkc->hwc", fragments.barycentric, vals)
    return jnp.where((fragments.triangle >= 0)[..., None], out, background)
