"""A z-buffer rasteriser in pure JAX (same code on CPU and GPU).

Each triangle tests the pixel centres of a K x K window at the top-left of its bounding
box and keeps those inside it; the nearest candidate per pixel wins through two scatters
(min depth, then the triangle id among the candidates at that depth).  K is static, so
triangles are drawn through a cascade of window sizes: all with a small window, the few
largest again with larger ones.  Optional back-face culling by a per-triangle facing sign.  Barycentrics are
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


def _candidates(tri, z, tri_ids, window, height, width, drawn):
    """Pixel index, inverse depth and triangle id of every pixel centre inside each triangle's
    K x K window (inverse depth 0 where outside).

    The three barycentrics and 1/z are affine in the pixel centre, so each triangle's planes
    are set up once and every candidate costs four multiply-adds and three comparisons.
    """
    x0 = jnp.floor(jnp.min(tri[..., 0], axis=1) - 0.5).astype(jnp.int32) + 1  # first centre >= min x
    y0 = jnp.floor(jnp.min(tri[..., 1], axis=1) - 0.5).astype(jnp.int32) + 1
    (ax, ay), (bx, by), (qx, qy) = [(tri[:, k, 0], tri[:, k, 1]) for k in range(3)]
    area = _edge(ax, ay, bx, by, qx, qy)
    ok = drawn & (jnp.abs(area) >= 1e-12)
    inv_area = jnp.where(ok, 1.0 / jnp.where(ok, area, 1.0), 0.0)
    cx0, cy0 = x0.astype(jnp.float32) + 0.5, y0.astype(jnp.float32) + 0.5
    # l_k(x, y) = l_k(cx0, cy0) + dx * (d l_k / dx) + dy * (d l_k / dy), for edges opposite a, b, c.
    edges = ((bx, by, qx, qy), (qx, qy, ax, ay), (ax, ay, bx, by))
    base = jnp.stack([_edge(*e, cx0, cy0) for e in edges], -1) * inv_area[:, None]     # (F, 3)
    gx = jnp.stack([-(e[3] - e[1]) for e in edges], -1) * inv_area[:, None]            # (F, 3)
    gy = jnp.stack([(e[2] - e[0]) for e in edges], -1) * inv_area[:, None]
    iz = 1.0 / z                                                                         # (F, 3)
    planes = jnp.concatenate([base, jnp.sum(base * iz, -1, keepdims=True)], -1)         # (F, 4)
    planes_x = jnp.concatenate([gx, jnp.sum(gx * iz, -1, keepdims=True)], -1)
    planes_y = jnp.concatenate([gy, jnp.sum(gy * iz, -1, keepdims=True)], -1)
    off = jnp.arange(window, dtype=jnp.float32)
    # (F, K, K, 4): rows j (y), columns i (x).
    vals = (planes[:, None, None, :] + off[None, None, :, None] * planes_x[:, None, None, :]
            + off[None, :, None, None] * planes_y[:, None, None, :])
    inside = jnp.all(vals[..., :3] >= 0, axis=-1) & ok[:, None, None]
    offi = jnp.arange(window, dtype=jnp.int32)
    ix = x0[:, None, None] + offi[None, None, :]  # (F, 1, K)
    iy = y0[:, None, None] + offi[None, :, None]  # (F, K, 1)
    inside &= (ix >= 0) & (ix < width) & (iy >= 0) & (iy < height)
    pix = jnp.where(inside, iy * width + ix, height * width)  # misses go to a dump slot
    ids = jnp.broadcast_to(tri_ids[:, None, None], pix.shape)
    return pix.reshape(-1), jnp.where(inside, vals[..., 3], 0.0).reshape(-1), ids.reshape(-1)


# Window cascade for a face mesh at training resolution with back faces culled (about 25,000 of
# 48,000 triangles drawn; most a few pixels across, a few hundred up to a tenth of the image).
# About 1.6 M candidate pixels instead of 12 M for one 16-pixel window for all.
DEFAULT_LEVELS = ((4, 12288), (6, 8192), (8, 6144), (12, 4096), (16, 1024), (32, 256), (64, 32))


def triangle_area(tri: jax.Array) -> jax.Array:
    """(F,) signed pixel-space area x2 of (F, 3, 2) triangles (positive: clockwise on screen, y down)."""
    (ax, ay), (bx, by), (qx, qy) = [(tri[:, k, 0], tri[:, k, 1]) for k in range(3)]
    return _edge(ax, ay, bx, by, qx, qy)


@functools.partial(jax.jit, static_argnames=("height", "width", "levels", "fallback", "near"))
def rasterize(pixels: jax.Array, depth: jax.Array, faces: jax.Array, height: int, width: int,
              levels: tuple = DEFAULT_LEVELS, cull: jax.Array | None = None, near: float = 1e-3,
              fallback: tuple | None = None) -> Fragments:
    """Rasterise triangles.

    Args:
      pixels: (V, 2) float32 projected vertices.
      depth: (V,) float32 positive depths; triangles with a vertex nearer than `near` are skipped.
      faces: (F, 3) int32.
      height, width: image size.
      levels: static ((K, N), ...) in increasing K: N places with a K x K window each.  Every drawn
        triangle takes a place in the smallest window that covers it (extent + 1 <= K) or, when
        those places are taken, in the next larger one; N = 0 for the last level means a place for
        every triangle.  `Fragments.overflow` counts drawn triangles left without a place that
        covers them (drawn incompletely or not at all): 0 means the image is exact.
      cull: optional (F,) float32 facing sign: a triangle whose `triangle_area` times its sign
        is negative faces away and is skipped (0: never skipped).  Only for closed or consistently
        oriented parts, where a back face is always hidden behind a front face.
      fallback: optional levels with the same windows and more places, used (through lax.cond)
        when `levels` would leave a triangle without a place: size `levels` for the typical
        image and `fallback` for the worst.  A sequential caller runs only one of them.
    """
    tri = pixels[faces]  # (F, 3, 2)
    z = depth[faces]     # (F, 3)
    num = faces.shape[0]
    extent = jnp.max(jnp.max(tri, axis=1) - jnp.min(tri, axis=1), axis=1)  # (F,)
    drawn = jnp.all(z > near, axis=1)
    if cull is not None:
        drawn &= cull * triangle_area(tri) >= 0
    # Counting sort by size class (the smallest covering window; culled triangles last): far
    # cheaper than a full sort, which cost ten times the rest of the rasteriser on a CPU.
    windows = jnp.asarray([w for w, _ in levels], jnp.float32)
    n_lv = len(levels)
    cls = jnp.sum(extent[:, None] + 1.0 > windows[None, :], axis=1)  # n_lv: too big for all
    cls = jnp.where(drawn, cls, n_lv + 1)
    onehot = (cls[:, None] == jnp.arange(n_lv + 2)[None, :]).astype(jnp.int32)  # (F, n_lv + 2)
    # associative_scan: XLA's CPU cumsum (a reduce-window) was several times slower here.
    rank = jax.lax.associative_scan(jnp.add, onehot, axis=0) - 1
    counts = jnp.sum(onehot, axis=0)
    offsets = jnp.concatenate([jnp.zeros(1, counts.dtype), jnp.cumsum(counts)[:-1]])
    pos = offsets[cls] + jnp.take_along_axis(rank, cls[:, None], axis=1)[:, 0]
    n_pix = height * width
    tri_p = jnp.concatenate([tri, jnp.zeros((1, 3, 2), tri.dtype)])      # index num: a dummy
    z_p = jnp.concatenate([z, jnp.ones((1, 3), z.dtype)])
    drawn_p = jnp.concatenate([drawn, jnp.zeros(1, bool)])
    extent_p = jnp.concatenate([extent, jnp.zeros(1, extent.dtype)])

    def draw(caps):
        order = jnp.full(num + max(caps), num, jnp.int32).at[pos].set(jnp.arange(num, dtype=jnp.int32))
        covered = jnp.zeros(num + 1, bool)
        cands = []
        end = jnp.zeros((), jnp.int32)
        # Nearest = largest inverse depth; the dump slot and misses carry 0.  One scatter per
        # level: XLA on CPU ran one scatter of the concatenated candidates several times slower.
        izbuf = jnp.zeros(n_pix + 1, jnp.float32)
        for k, (window, cap) in enumerate(zip(windows_static, caps)):
            # Places run from the first triangle of this class, or earlier when the smaller
            # windows were full and their remainder spills over.
            start = jnp.minimum(end, offsets[k]).astype(jnp.int32)
            sel = jax.lax.dynamic_slice(order, (start,), (cap,))
            p, zz, ii = _candidates(tri_p[sel], z_p[sel], sel, window, height, width, drawn_p[sel])
            cands.append((p, zz, ii))
            izbuf = izbuf.at[p].max(zz)
            covered = covered.at[sel].max(extent_p[sel] + 1.0 <= window)
            end = start + cap
        ids = jnp.full(n_pix + 1, -1, jnp.int32)
        for p, zz, ii in cands:
            ids = ids.at[p].max(jnp.where((zz == izbuf[p]) & (zz > 0), ii, -1))
        return izbuf, ids, jnp.sum(drawn & ~covered[:num])

    windows_static = [w for w, _ in levels]
    caps = [num if n <= 0 else min(n, num) for _, n in levels]
    if fallback is None:
        izbuf, ids, overflow = draw(caps)
    else:
        if [w for w, _ in fallback] != windows_static:
            raise ValueError("fallback levels must have the same windows as levels")
        # Will `levels` place every triangle?  Replay the spill-over on the class counts.
        end = jnp.zeros((), jnp.int32)
        for k, cap in enumerate(caps):
            end = jnp.minimum(end, offsets[k]) + cap
        fits = (end >= offsets[n_lv]) & (counts[n_lv] == 0)
        fb_caps = [num if n <= 0 else min(n, num) for _, n in fallback]
        izbuf, ids, overflow = jax.lax.cond(fits, lambda: draw(caps), lambda: draw(fb_caps))
    ids = ids[:n_pix]
    zimg = jnp.where(izbuf[:n_pix] > 0, 1.0 / jnp.where(izbuf[:n_pix] > 0, izbuf[:n_pix], 1.0), jnp.inf)
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
