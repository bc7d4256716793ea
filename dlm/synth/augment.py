"""Photometric image augmentation in JAX: every draw a function of a PRNG key, jit- and vmap-able.

Geometric augmentation (crop scale, rotation and translation) is not here: the synthetic
generator renders the jittered crop directly through the camera, so labels stay exact and no
image is resampled.  Images are (S, S, 3) float32 display values in [0, 1].
"""
from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np


class AugmentRanges(NamedTuple):
    """Probabilities and ranges of each augmentation."""
    blur_prob: float = 0.3
    max_blur_sigma: float = 1.6        # pixels
    motion_blur_prob: float = 0.12
    max_motion_length: float = 8.0    # pixels
    resample_prob: float = 0.2        # down-then-up sampling by 2 or 3
    noise_prob: float = 0.5
    max_noise: float = 0.04
    jpeg_prob: float = 0.4
    jpeg_quality: tuple = (15.0, 90.0)
    grayscale_prob: float = 0.08
    max_gain: float = 0.12            # per-channel colour gain spread
    contrast: tuple = (0.65, 1.35)
    gamma: tuple = (0.7, 1.45)
    brightness: float = 0.12
    # Camera realism (issue 21), off by default so that earlier runs draw what they drew;
    # CAMERA below turns them on.  Each is drawn from its own fold_in of the key.
    vignette_prob: float = 0.0
    max_vignette: float = 0.45        # darkening at the crop's corners from the optical centre
    chromatic_prob: float = 0.0
    max_chromatic: float = 0.006      # lateral CA: red and blue magnified by 1 +- this (radial)
    white_balance_prob: float = 0.0
    max_temperature: float = 0.25     # log gain of red against blue (warm / cool)
    max_tint: float = 0.06            # log gain of green (green / magenta)
    sharpen_prob: float = 0.0
    sharpen_amount: tuple = (0.4, 1.5)   # unsharp mask: x + a (x - blur(x)), as phones' pipelines do
    jpeg_chroma_subsampling: bool = False   # 4:2:0 chroma in jpeg_like, as cameras and the web save


# The camera steps on, at the rates of the photos they imitate: most phone photos are sharpened,
# white-balanced imperfectly and saved with subsampled chroma; vignetting and colour fringes show
# in wide or cheap lenses.
CAMERA = dict(vignette_prob=0.4, chromatic_prob=0.3, white_balance_prob=0.5, sharpen_prob=0.5,
              jpeg_chroma_subsampling=True)


def _gaussian_kernel(sigma: jax.Array, taps: int = 9) -> jax.Array:
    x = jnp.arange(taps, dtype=jnp.float32) - (taps - 1) / 2
    k = jnp.exp(-0.5 * (x / jnp.maximum(sigma, 1e-3)) ** 2)
    return k / jnp.sum(k)


def gaussian_blur(image: jax.Array, sigma: jax.Array, taps: int = 9) -> jax.Array:
    """Separable Gaussian blur of (S, S, C) as shifted multiply-adds (edge padding): XLA's
    small-channel convolutions are slow on CPU."""
    k = _gaussian_kernel(sigma, taps)
    pad = taps // 2
    h, w = image.shape[:2]
    x = jnp.pad(image, ((pad, pad), (0, 0), (0, 0)), mode="edge")
    x = sum(k[i] * x[i:i + h] for i in range(taps))
    x = jnp.pad(x, ((0, 0), (pad, pad), (0, 0)), mode="edge")
    return sum(k[i] * x[:, i:i + w] for i in range(taps))


def motion_blur(image: jax.Array, angle: jax.Array, length: jax.Array, taps: int = 9) -> jax.Array:
    """Average of `taps` copies shifted along a line of `length` pixels at `angle` radians
    (whole-pixel shifts; length at most 2 * (taps - 1))."""
    h, w = image.shape[:2]
    m = taps - 1
    x = jnp.pad(image, ((m, m), (m, m), (0, 0)), mode="edge")
    t = jnp.linspace(-0.5, 0.5, taps)
    dx = jnp.round(t * length * jnp.cos(angle)).astype(jnp.int32)
    dy = jnp.round(t * length * jnp.sin(angle)).astype(jnp.int32)
    out = sum(jax.lax.dynamic_slice(x, (m + dy[i], m + dx[i], 0), (h, w, image.shape[2])) for i in range(taps))
    return out / taps


def resample(image: jax.Array, factor: int) -> jax.Array:
    """Down-sample by an integer factor (area average) and up again (bilinear): lost detail."""
    s = image.shape[0]
    small = jax.image.resize(image, (s // factor, s // factor, image.shape[2]), "linear", antialias=True)
    return jax.image.resize(small, image.shape, "linear")


# JPEG's standard luminance and chrominance quantisation tables (quality 50).
_Q_LUMA = np.array([
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99], np.float32).reshape(8, 8)
_Q_CHROMA = np.full((8, 8), 99.0, np.float32)
_Q_CHROMA[:4, :4] = np.array([17, 18, 24, 47, 18, 21, 26, 66, 24, 26, 56, 99, 47, 66, 99, 99]).reshape(4, 4)


def _dct_matrix(n: int = 8) -> np.ndarray:
    k = np.arange(n)[:, None]
    x = np.arange(n)[None, :]
    m = np.cos(np.pi * (2 * x + 1) * k / (2 * n)) * np.sqrt(2.0 / n)
    m[0] /= np.sqrt(2.0)
    return m.astype(np.float32)


def jpeg_like(image: jax.Array, quality: jax.Array, chroma_subsampling: bool = False) -> jax.Array:
    """Block-DCT quantisation as in baseline JPEG (YCbCr, 8 x 8 blocks, standard tables scaled
    by quality 1..100), without entropy coding.  chroma_subsampling: Cb and Cr averaged over 2 x 2
    pixels first (4:2:0, their detail lost as a JPEG's is; the blocks stay 8 x 8 at full size).
    Size must divide by 8 (by 16 with subsampling)."""
    s = image.shape[0]
    ycc = jnp.stack([
        0.299 * image[..., 0] + 0.587 * image[..., 1] + 0.114 * image[..., 2],
        0.5 - 0.168736 * image[..., 0] - 0.331264 * image[..., 1] + 0.5 * image[..., 2],
        0.5 + 0.5 * image[..., 0] - 0.418688 * image[..., 1] - 0.081312 * image[..., 2]], -1) * 255.0 - 128.0
    if chroma_subsampling:
        c = ycc[..., 1:].reshape(s // 2, 2, s // 2, 2, 2).mean((1, 3))
        ycc = jnp.concatenate([ycc[..., :1], jnp.repeat(jnp.repeat(c, 2, 0), 2, 1)], -1)
    scale = jnp.where(quality < 50, 50.0 / quality, 2.0 - quality / 50.0)
    q = jnp.stack([jnp.asarray(_Q_LUMA), jnp.asarray(_Q_CHROMA), jnp.asarray(_Q_CHROMA)], -1)  # (8, 8, 3)
    q = jnp.maximum(jnp.floor(q * scale + 0.5), 1.0)
    d = jnp.asarray(_dct_matrix())
    blocks = ycc.reshape(s // 8, 8, s // 8, 8, 3)  # (by, y, bx, x, c)
    coef = jnp.einsum("uy,aybxc,vx->aubvc", d, blocks, d)
    coef = jnp.round(coef / q[None, :, None, :, :]) * q[None, :, None, :, :]
    back = jnp.einsum("uy,aubvc,vx->aybxc", d, coef, d).reshape(s, s, 3)
    y, cb, cr = [(back[..., i] + 128.0) / 255.0 for i in range(3)]
    rgb = jnp.stack([y + 1.402 * (cr - 0.5), y - 0.344136 * (cb - 0.5) - 0.714136 * (cr - 0.5),
                     y + 1.772 * (cb - 0.5)], -1)
    return jnp.clip(rgb, 0.0, 1.0)


def _radius2(size: int, centre: jax.Array) -> jax.Array:
    """(S, S) squared distance of pixel centres from `centre` (pixels), over half the diagonal squared."""
    y, x = jnp.mgrid[0:size, 0:size].astype(jnp.float32) + 0.5
    return ((x - centre[0]) ** 2 + (y - centre[1]) ** 2) / (size * size / 2.0)


def vignette(image: jax.Array, strength: jax.Array, centre: jax.Array) -> jax.Array:
    """Natural vignetting around the optical centre (pixels): a cos^4-like fall-off,
    1 / (1 + k r^2)^2 with k set so that the crop's corners (seen from its middle) lose `strength`."""
    k = 1.0 / jnp.sqrt(1.0 - strength) - 1.0
    return image / (1.0 + k * _radius2(image.shape[0], centre))[..., None] ** 2


def chromatic_aberration(image: jax.Array, amount: jax.Array, centre: jax.Array) -> jax.Array:
    """Lateral chromatic aberration: red magnified by 1 + amount and blue by 1 - amount about the
    optical centre (pixels), green untouched; bilinear, edges clamped."""
    s = image.shape[0]
    y, x = jnp.mgrid[0:s, 0:s].astype(jnp.float32) + 0.5

    def scaled(channel, m):
        # The output pixel at p shows the input at c + (p - c) / m (sample coordinates: centres at i).
        sx = centre[0] + (x - centre[0]) / m - 0.5
        sy = centre[1] + (y - centre[1]) / m - 0.5
        return jax.scipy.ndimage.map_coordinates(channel, [sy, sx], order=1, mode="nearest")
    return jnp.stack([scaled(image[..., 0], 1.0 + amount), image[..., 1], scaled(image[..., 2], 1.0 - amount)], -1)


def white_balance(image: jax.Array, temperature: jax.Array, tint: jax.Array) -> jax.Array:
    """A white-balance error: red against blue by exp(+-temperature), green by exp(tint), the
    gains' mean luminance kept."""
    gain = jnp.exp(jnp.stack([temperature, tint, -temperature]))
    return image * (gain / jnp.sum(gain * jnp.array([0.299, 0.587, 0.114])))


def sharpen(image: jax.Array, amount: jax.Array, sigma: jax.Array) -> jax.Array:
    """Unsharp mask, x + amount (x - blur(x)): the halos of a phone's sharpening."""
    return image + amount * (image - gaussian_blur(image, sigma))


def hash_uniform(seed: jax.Array, shape: tuple) -> jax.Array:
    """Uniform [0, 1) per element from an integer hash of (seed, index): per-pixel noise at a
    fraction of the cost of threefry on a CPU.  Only for image noise."""
    x = jnp.arange(int(np.prod(shape)), dtype=jnp.uint32) * jnp.uint32(0x9E3779B1) + seed.astype(jnp.uint32)
    return hash_to_unit(x).reshape(shape)


def hash_to_unit(x: jax.Array) -> jax.Array:
    """uint32 -> uniform float32 in [0, 1): a 32-bit integer finaliser (xor-shift-multiply), top 24 bits."""
    x = (x ^ (x >> 16)) * jnp.uint32(0x7FEB352D)
    x = (x ^ (x >> 15)) * jnp.uint32(0x846CA68B)
    x = x ^ (x >> 16)
    return (x >> 8).astype(jnp.float32) / float(1 << 24)


def augment(key: jax.Array, image: jax.Array, ranges: AugmentRanges = AugmentRanges()) -> jax.Array:
    """A random chain: the lens (vignetting, lateral chromatic aberration) and a white-balance
    error when set; colour, gamma and contrast; grayscale; blur or motion blur; down-up
    sampling; sensor noise; sharpening when set; JPEG-like compression, each step with its probability.

    Steps are `lax.cond`s: a sequential caller (lax.map on a CPU) pays only for the steps
    drawn; under vmap they become selects and every step is computed."""
    ks = jax.random.split(key, 16)
    u = lambda k, lo=0.0, hi=1.0, shape=(): jax.random.uniform(k, shape, minval=lo, maxval=hi)  # noqa: E731
    # Camera steps draw from keys of their own, and only exist when their probability is set, so
    # the chain with them off is the chain from before they existed.
    cam = [jax.random.fold_in(key, 1000 + i) for i in range(10)]
    s = image.shape[0]
    x = image
    if ranges.vignette_prob > 0 or ranges.chromatic_prob > 0:   # optics: around a centre near the crop's
        centre = s * (0.5 + u(cam[0], -0.25, 0.25, (2,)))
    if ranges.vignette_prob > 0:
        x = jax.lax.cond(u(cam[1]) < ranges.vignette_prob,
                         lambda x: vignette(x, u(cam[2], 0.1, ranges.max_vignette), centre), lambda x: x, x)
    if ranges.chromatic_prob > 0:
        x = jax.lax.cond(u(cam[3]) < ranges.chromatic_prob,
                         lambda x: chromatic_aberration(x, u(cam[4], -ranges.max_chromatic, ranges.max_chromatic),
                                                        centre), lambda x: x, x)
    if ranges.white_balance_prob > 0:
        x = jax.lax.cond(u(cam[5]) < ranges.white_balance_prob,
                         lambda x: white_balance(x, u(cam[6], -ranges.max_temperature, ranges.max_temperature),
                                                 u(cam[7], -ranges.max_tint, ranges.max_tint)), lambda x: x, x)
    gain = 1.0 + ranges.max_gain * jax.random.normal(ks[0], (3,))
    x = x * gain + u(ks[1], -ranges.brightness, ranges.brightness)
    mean = jnp.mean(x)
    x = (x - mean) * u(ks[2], *ranges.contrast) + mean
    x = jnp.clip(x, 0.0, 1.0) ** u(ks[3], *ranges.gamma)
    gray = jnp.broadcast_to(jnp.sum(x * jnp.array([0.299, 0.587, 0.114]), -1, keepdims=True), x.shape)
    x = jnp.where(u(ks[4]) < ranges.grayscale_prob, gray, x)
    r = u(ks[8])
    blur_kind = jnp.where(r < ranges.blur_prob, 1, jnp.where(r < ranges.blur_prob + ranges.motion_blur_prob, 2, 0))
    x = jax.lax.switch(blur_kind, [
        lambda x: x,
        lambda x: gaussian_blur(x, u(ks[5], 0.4, ranges.max_blur_sigma)),
        lambda x: motion_blur(x, u(ks[6], 0.0, np.pi), u(ks[7], 2.0, ranges.max_motion_length))], x)
    factors = [2, 3] if image.shape[0] % 6 == 0 else [2]
    which = jnp.where(u(ks[10]) < ranges.resample_prob, 1 + jax.random.randint(ks[9], (), 0, len(factors)), 0)
    x = jax.lax.switch(which, [lambda x: x] + [functools.partial(resample, factor=f) for f in factors], x)

    def noise(x):
        # Per-pixel noise from an integer hash (threefry for 200,000 values costs more than the
        # rest of this function on a CPU): the sum of two uniforms, triangular with unit variance.
        seed = jax.random.bits(ks[12], (), jnp.uint32)
        h = hash_uniform(seed, x.shape) * 4096.0  # two 12-bit uniforms from one 24-bit hash
        hi = jnp.floor(h)
        tri = (hi / 4096.0 + (h - hi) - 1.0) * np.sqrt(6.0)
        return x + u(ks[11], 0.0, ranges.max_noise) * jnp.sqrt(x + 0.05) * tri

    x = jnp.clip(jax.lax.cond(u(ks[13]) < ranges.noise_prob, noise, lambda x: x, x), 0.0, 1.0)
    if ranges.sharpen_prob > 0:   # the camera's pipeline sharpens after the sensor: noise included
        x = jnp.clip(jax.lax.cond(u(cam[8]) < ranges.sharpen_prob,
                                  lambda x: sharpen(x, u(cam[9], *ranges.sharpen_amount), 1.0), lambda x: x, x),
                     0.0, 1.0)
    subsample = ranges.jpeg_chroma_subsampling and s % 16 == 0
    if image.shape[0] % 8 == 0:
        x = jax.lax.cond(u(ks[14]) < ranges.jpeg_prob,
                         lambda x: jpeg_like(x, u(ks[15], *ranges.jpeg_quality), subsample), lambda x: x, x)
    return x
