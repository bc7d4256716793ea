"""Convert Poly Haven's CC0 HDR environment maps into dlm's environment file (.npz).

    # the 12 1k maps of the public repository pmndrs/drei-assets (folder hdri/), e.g.
    git clone --depth 1 https://github.com/pmndrs/drei-assets /tmp/drei-assets
    python third_party/polyhaven_hdri/convert.py /tmp/drei-assets/hdri/*.hdr \\
        -o third_party/polyhaven_hdri/environments.npz

Each map (equirectangular, linear radiance, y up) becomes, in the file:
- `radiance_log` (N, 256, 512, 3) uint8 and `log2_range` (N, 2): the map at 512 x 256 (area
  averaged), normalised (below), stored as log2 radiance in 256 steps over its own range:
  radiance = 2 ** (lo + (hi - lo) * q / 255), at most 18 stops (0.07 stop per step), darker is black.  It is the
  background a camera sees and the source of the light.
- `sun_direction` (N, 3), `sun_colour` (N, 3): the map's direct light, the pixels brighter than
  `SUN_FACTOR` times the median (the sun, a window, studio lamps), gathered into one directional
  light: irradiance / pi at normal incidence, per channel, along their power-weighted mean
  direction.  Those pixels are clamped to the threshold for what follows.
- `sh` (N, 9, 3): the rest of the map as order-2 spherical harmonics, already convolved for a
  Lambertian surface and divided by pi, in the basis of `dlm.synth.shading.sh_basis`, so that
  `sh_basis(n) @ sh` is the diffuse term E(n) / pi (albedo times it is the outgoing radiance).
- Normalisation: each map is scaled so that the clamped map's mean radiance over the sphere is 1
  (the renderer chooses the exposure).

Directions: x right, y up, z towards the viewer of the map's centre column (a camera looking
down -z sees u = 0.5); theta from +y, u = 0.5 + atan2(x, -z) / (2 pi), v = theta / pi.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

WIDTH, HEIGHT = 512, 256
SUN_FACTOR = 60.0     # x the median radiance: direct light (sun, lamps, bright windows)
STOPS = 18.0          # dynamic range kept: ~0.07 stop per uint8 step
BANDS = np.array([1.0, 2 / 3, 2 / 3, 2 / 3, 1 / 4, 1 / 4, 1 / 4, 1 / 4, 1 / 4])   # A_l / pi per coefficient


def sh_basis(n: np.ndarray) -> np.ndarray:
    """dlm.synth.shading.sh_basis in numpy (the same order and constants; tests compare them)."""
    x, y, z = n[..., 0], n[..., 1], n[..., 2]
    return np.stack([0.282095 * np.ones_like(x), 0.488603 * y, 0.488603 * z, 0.488603 * x,
                     1.092548 * x * y, 1.092548 * y * z, 0.315392 * (3 * z * z - 1), 1.092548 * x * z,
                     0.546274 * (x * x - y * y)], -1)


def directions(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Unit directions (H, W, 3) of the pixel centres and their solid angles (H, W)."""
    v = (np.arange(height) + 0.5) / height
    u = (np.arange(width) + 0.5) / width
    theta = v * np.pi
    phi = (u - 0.5) * 2 * np.pi
    st = np.sin(theta)[:, None]
    d = np.stack(np.broadcast_arrays(st * np.sin(phi)[None], np.cos(theta)[:, None],
                                     -st * np.cos(phi)[None]), -1)
    omega = np.broadcast_to(st * (2 * np.pi / width) * (np.pi / height), (height, width))
    return d, omega


def convert_map(radiance: np.ndarray) -> dict:
    """One equirectangular map (H, W, 3) linear RGB -> the fields above for it."""
    import cv2
    img = cv2.resize(radiance.astype(np.float32), (WIDTH, HEIGHT), interpolation=cv2.INTER_AREA)
    img = np.maximum(img, 0.0)
    d, omega = directions(HEIGHT, WIDTH)
    lum = img @ np.array([0.2126, 0.7152, 0.0722])
    thresh = SUN_FACTOR * np.median(lum)
    sun = lum > thresh
    sun_rgb = ((img - img * np.minimum(1.0, thresh / np.maximum(lum, 1e-12))[..., None]) * omega[..., None])[sun]
    clamped = np.where(sun[..., None], img * (thresh / np.maximum(lum, 1e-12))[..., None], img)
    scale = 1.0 / float((clamped @ np.array([0.2126, 0.7152, 0.0722]) * omega).sum() / (4 * np.pi))
    if sun.any():
        w = sun_rgb @ np.array([0.2126, 0.7152, 0.0722])
        direction = (d[sun] * w[:, None]).sum(0)
        direction /= max(np.linalg.norm(direction), 1e-12)
        sun_colour = sun_rgb.sum(0) / np.pi * scale
    else:
        direction, sun_colour = np.array([0.0, 1.0, 0.0]), np.zeros(3)
    basis = sh_basis(d)                                                     # (H, W, 9)
    coeffs = np.einsum("hwk,hwc,hw->kc", basis, clamped * scale, omega)     # radiance SH
    logs = np.log2(np.maximum(img * scale, 1e-12))
    hi = float(np.ceil(logs.max()))
    lo = max(float(np.floor(logs.min())), hi - STOPS)   # darker than 2^-STOPS of the peak: black
    logs = np.maximum(logs, lo)
    q = np.round((logs - lo) / (hi - lo) * 255).astype(np.uint8)
    return dict(radiance_log=q, log2_range=np.array([lo, hi], np.float32),
                sun_direction=direction.astype(np.float32), sun_colour=sun_colour.astype(np.float32),
                sh=(coeffs * BANDS[:, None]).astype(np.float32))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("maps", nargs="+", help="equirectangular .hdr files")
    ap.add_argument("-o", "--output", required=True)
    args = ap.parse_args(argv)
    import cv2
    fields, names = [], []
    for path in sorted(args.maps):
        img = cv2.imread(path, cv2.IMREAD_ANYDEPTH | cv2.IMREAD_COLOR)
        if img is None or img.dtype != np.float32:
            print(f"{path}: not a readable HDR image", file=sys.stderr)
            return 2
        fields.append(convert_map(img[..., ::-1]))
        names.append(Path(path).stem)
        f = fields[-1]
        print(f"{names[-1]}: log2 range {f['log2_range']}, sun {np.round(f['sun_colour'], 2)} along "
              f"{np.round(f['sun_direction'], 2)}, ambient {np.round(f['sh'][0] * 0.282095, 2)}")
    out = {k: np.stack([f[k] for f in fields]) for k in fields[0]}
    out["names"] = np.array(names)
    np.savez_compressed(args.output, **out)
    print(f"wrote {args.output} ({Path(args.output).stat().st_size / 1e6:.1f} MB, {len(names)} maps)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
