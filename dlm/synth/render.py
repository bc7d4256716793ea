"""Synthetic training data: randomised faces with perfect dense labels (Section 3.1 of the paper).

One jit-compiled, vmapped function turns PRNG keys into labelled images:

  key -> identity, expression, pose, camera (`dlm.synth.scenes`) and a jittered head crop
      -> z-buffer render (`dlm.synth.raster`) with per-pixel procedural appearance
      -> background photograph, occluders, glasses -> photometric augmentation
      -> image, region mask, landmarks (L, 2), visibility (L,)

Appearance is procedural and lives on the template surface: every pixel interpolates its
template position (the neutral mean face, cm), so textures (pores, freckles, hair strands,
eyebrows, beards, clothing) stick to the skin whatever the identity, expression and pose.

Pixel convention of the labels: x right, y down, the top-left corner of the image is (0, 0)
and pixel centres are at integer + 0.5 (as everywhere in dlm).  `visible` is geometric: the
landmark is inside the image and its surface point is the nearest surface at its pixel (not
hidden by the head itself, glasses, occluders, or hair and beards with volume); hair and beards
painted on the skin do not change it.
"""
from __future__ import annotations

import functools
import importlib.util
import os
from pathlib import Path
from typing import Iterator, NamedTuple

import cv2
import jax
import jax.numpy as jnp
import numpy as np

from dlm.core import facemodel as fm
from dlm.core import geometry, landmark_sets
from dlm.synth import augment as aug
from dlm.synth import raster, scenes
from dlm.synth import shading as rs
from dlm.synth.prefetch import prefetched
from dlm.synth.switches import realism_switches

R = {name: i for i, name in enumerate(rs.REGION_NAMES)}

# Skin albedo from very light to very dark (linear RGB), interpolated by a random tone.
SKIN_LIGHT = np.array([0.80, 0.60, 0.50], np.float32)
SKIN_DARK = np.array([0.10, 0.055, 0.035], np.float32)
# Hairline heights (template y, cm) at azimuths 0 (front), 38 (temple, relative to the front), 75
# (side) and 180 degrees (back): uniform ranges; a front above the head (20) is bald.
HAIRLINE_KNOTS = np.radians([0.0, 38.0, 75.0, 180.0])
HAIRLINE_FRONT, HAIRLINE_TEMPLE, HAIRLINE_SIDE, HAIRLINE_BACK = (7.8, 12.0), (-0.5, 2.0), (0.5, 6.0), (-9.0, -4.0)
# Hair volume: how far scalp hair stands off the head (cm; a uniform range), reached 2 cm above
# the hairline (`hair_shell`).
HAIR_VOLUME_CM = (0.3, 3.0)
HAIR_RAMP_CM = 2.0
# Long hair (`hair_curtain`): the share of heads that have it, where it ends (template y, cm: the
# jaw is at about -8, the shoulders below -18) and the face's opening (degrees of azimuth off the
# front on each side, where the curtain starts).
LONG_HAIR_PROB = 0.4
LONG_HAIR_END_CM = (-30.0, 0.0)
LONG_HAIR_OPENING_DEG = (45.0, 85.0)
# The curtain's grid: azimuths over the sides and back, heights from the crown's side down.
# Shoulders and chest under clothing (issue 21, `torso_grid`): the cross-section at each height
# (template cm, y down from the neck's base) is a superellipse of half-width TORSO_A, half-depth
# TORSO_B about z = TORSO_ZC; its top ring sits inside the neck, which hides the seam.
# (ICT's neck at y = -14.5: x within +-12.4, z within -9.2..3.5; its back ends just below.)
TORSO_Y_CM = (-14.5, -17.0, -19.0, -21.0, -23.0, -26.0, -30.0, -45.0)
TORSO_A_CM = (10.5, 12.5, 15.5, 18.0, 19.0, 19.5, 19.5, 19.0)
TORSO_B_CM = (5.2, 6.5, 7.5, 8.5, 9.5, 10.5, 11.0, 11.0)
TORSO_ZC_CM = (-2.85, -2.5, -2.3, -2.0, -1.5, -1.0, -0.5, -0.5)
TORSO_GRID = (48, 24)             # azimuths around, heights down
TORSO_EXPONENT = 3.0              # superellipse: 2 an ellipse, larger boxier (shoulders)
TORSO_WIDTH = (0.85, 1.15)        # per-sample scale of the half-width
TORSO_DEPTH = (0.9, 1.2)          # and of the half-depth
TORSO_TURN = (0.3, 0.9)           # the body turns by this share of the head's and neck's yaw
# Beards (`paint`): the zone's top edge (template y, cm) at azimuths 0, 25, 50 and 70 degrees off the
# front, shifted by half the sample's offset; its bottom edge on the neck; no beard past 80 degrees
# (behind the ears) or on the lips.
BEARD_TOP_KNOTS = np.radians([0.0, 25.0, 50.0, 70.0])
BEARD_TOP_CM = (-1.35, -1.9, 0.3, 2.5)
BEARD_OFFSET_CM = (-0.8, 0.8)
BEARD_BOTTOM_CM = -11.5
BEARD_MAX_AZIMUTH = np.radians(80.0)
# Beard volume (`beard_shell`): how far a full beard stands off the skin (cm; a uniform range),
# reached BEARD_RAMP_CM inside the zone's edges and away from the lips.  Real full beards stand
# 0.5-3 cm off the jaw and chin; the painted beard alone leaves the jaw's silhouette bare.
BEARD_VOLUME_CM = (0.4, 2.5)
BEARD_RAMP_CM = 1.0
CURTAIN_AZIMUTH_DEG = (40.0, 320.0, 57)
CURTAIN_HEIGHT_CM = (10.0, -30.0, 41)
# Hair colours (linear RGB): black, dark brown, brown, auburn, blond, grey.
HAIR_COLOURS = np.array([[0.012, 0.010, 0.009], [0.04, 0.022, 0.013], [0.10, 0.055, 0.03], [0.22, 0.07, 0.03],
                         [0.45, 0.32, 0.16], [0.45, 0.44, 0.42]], np.float32)
# Background photographs that scikit-image ships in its wheel (public domain or CC0; see
# scikit-image's data/README): no human faces among them.
BACKGROUND_FILES = ("brick.png", "coffee.png", "grass.png", "gravel.png", "hubble_deep_field.jpg", "ihc.png",
                    "motorcycle_left.png", "motorcycle_right.png", "rocket.jpg", "coins.png",
                    "text.png", "moon.png", "color.png", "clock_motion.png", "cell.png", "retina.jpg")
BACKGROUND_SIZE = 320
# The renderer's version, recorded in every pool's settings (`dlm.synth.pool.write_pool`), so a pool
# is resumed or grown only by the renderer that drew its first samples.  Pools without it are
# version 1: rendered before 2026-12-06 (session 52), their HDRI backgrounds turned 180 degrees
# about the view axis; 2: the view vector fixed.
RENDERER_VERSION = 2
# Head crop: the box of the landmarks (neck excluded) fills this fraction of the image side.
CROP_FILL = (0.62, 0.95)
CROP_SHIFT = 0.08    # of the image side
CROP_ROLL_DEG = 15.0
# Rasteriser places for a 256 px crop (scaled by area for other sizes): the typical image
# (face triangles per size class over 200 random crops: mean 16,600 / 6,100 / 1,800 / 940 / 145
# / 41 / 0 for windows 4 ... 64, plus occluders) and the worst seen (23,200 / 10,300 / 3,600 /
# 2,200 / 710 / 380 / 45), drawn only when needed.
RASTER_LEVELS = ((4, 20480), (6, 8192), (8, 2560), (12, 1280), (16, 256), (32, 128), (64, 16), (128, 2))
RASTER_FALLBACK = ((4, 24576), (6, 12288), (8, 4096), (12, 2560), (16, 1024), (32, 512), (64, 64), (128, 8))


class Assets(NamedTuple):
    """Arrays the renderer needs, fixed for a face model (a pytree: pass it into jit)."""
    faces: jax.Array            # (F, 3) int32 opaque triangles
    cull: jax.Array             # (F,) facing signs
    regions: jax.Array          # (V,) int32 geometric region class
    vertex_attr: jax.Array      # (V, 9) template xyz, lip, ear, skin-part weights, brow across/along/height
    roi_ids: jax.Array          # (N,) landmark vertices whose box frames the crop (no neck)
    eye_centres: jax.Array      # (2, 3) template eye centres (left, right)
    backgrounds: jax.Array      # (B, 320, 320, 3) uint8 photographs (B may be 0)
    # Real light (issue 21): Poly Haven environment maps (third_party/polyhaven_hdri), linear radiance.
    env_radiance: jax.Array     # (N, 256, 512, 3) float32 equirectangular maps (N may be 0)
    env_sh: jax.Array           # (N, 9, 3) diffuse E(n) / pi of each map without its direct light
    env_sun: jax.Array          # (N, 2, 3) direct light: direction (towards it), colour (E / pi)
    env_prob: jax.Array         # () chance that a sample is lit by a map (and shows it behind the head)
    # Skin detail (issue 21): template-space blobs (K, 4: centre xyz cm, radius cm) in SKIN_BLOBS'
    # order where blood shows, the eye sockets darken and the skin is oily (on or off: `skin_detail`).
    skin_blobs: jax.Array
    # Hair volume (issue 21): the scalp's vertices (H,) and triangles (T, 3, indices into them)
    # where hair may stand off the head as a shell (`hair_shell`); H = 0: off.
    hair_ids: jax.Array
    hair_faces: jax.Array
    # Long hair (issue 21): a curtain that hangs from the head's widest point at the sides and
    # back (`hair_curtain`): (N, 5) template position, azimuth (rad), height band (`curtain_grid`),
    # and its triangles (T, 3); N = 0: off.
    curtain: jax.Array
    curtain_faces: jax.Array
    # Eyelashes (issue 21): () 1.0 on, a dark lash line about the eye opening (`eye_rim`); 0.0 off.
    # A value, as cast_shadows below (it was a shape, and compiled a renderer of its own).
    lashes: jax.Array = jnp.zeros((), jnp.float32)
    # Shoulders (issue 21): `torso_grid`'s rows (N, 5) and triangles (T, 3); N = 0: off.
    torso: jax.Array = jnp.zeros((0, 5), jnp.float32)
    torso_faces: jax.Array = jnp.zeros((0, 3), jnp.int32)
    # Beard volume (issue 21): the lower face's vertices (N,) any beard may cover, their distance
    # from the mouth (N,) cm, and triangles (T, 3) indexing them (`beard_region`); N = 0: off.
    beard_ids: jax.Array = jnp.zeros(0, jnp.int32)
    beard_mouth: jax.Array = jnp.zeros(0, jnp.float32)
    beard_faces: jax.Array = jnp.zeros((0, 3), jnp.int32)
    # Natural light (issue 21): () 1.0 on, the random lights' colours vary as photographs' do
    # (`sample_light`); 0.0 off.  A value, not a shape: on and off run one compiled renderer (the
    # switch selects among a few scalars per sample), so it costs no compilation of its own.
    natural_light: jax.Array = jnp.zeros((), jnp.float32)
    # Cast shadows (issue 21): () 1.0 on, the key light is blocked where the surface towards it
    # hides it (`cast_shadow`); 0.0 off.  A value, as natural_light: one compiled renderer, and off
    # skips the work (a `lax.cond` on a flag that is the same for the whole batch).
    cast_shadows: jax.Array = jnp.zeros((), jnp.float32)
    # Skin detail (issue 21): () 1.0 on (`skin_detail` with `skin_blobs`); 0.0 off.  A value, as
    # cast_shadows (it was skin_blobs' shape, and compiled a renderer of its own).
    skin_detail: jax.Array = jnp.zeros((), jnp.float32)
    # Lenses (issue 21): () 1.0 on, the glasses' frames hold clear lenses or sunglasses
    # (`glass_lenses`); 0.0 off, frames alone.  A value, as skin_detail.
    lenses: jax.Array = jnp.zeros((), jnp.float32)
    # Identity spread (issue 21): (2,) the range (low, high) of the standard deviation each head's
    # identity coefficients are drawn with, uniform per head.  (1, 1), the default, is the model's
    # prior and draws exactly the heads drawn before it existed; (1, 1.6) draws the same heads
    # (the same directions in shape space) with up to 1.6x their distance from the mean face.
    identity_sd: jax.Array = jnp.ones((2,), jnp.float32)


@functools.lru_cache(maxsize=2)
def load_backgrounds(size: int = BACKGROUND_SIZE) -> np.ndarray:
    """Square centre crops of scikit-image's sample photographs, (B, size, size, 3) uint8 RGB.

    Read from the installed package's data folder (no skimage import); empty when it is absent."""
    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        return np.zeros((0, size, size, 3), np.uint8)
    folder = os.path.join(list(spec.submodule_search_locations)[0], "data")
    out = []
    for name in BACKGROUND_FILES:
        img = cv2.imread(os.path.join(folder, name), cv2.IMREAD_COLOR)
        if img is None:
            continue
        h, w = img.shape[:2]
        s = min(h, w)
        img = img[(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]
        out.append(cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)[..., ::-1])
    return np.stack(out) if out else np.zeros((0, size, size, 3), np.uint8)


ENVIRONMENTS = Path(__file__).resolve().parents[2] / "third_party" / "polyhaven_hdri" / "environments.npz"


@functools.lru_cache(maxsize=1)
def load_environments(path: str | None = None) -> dict:
    """The environment maps decoded to linear radiance: radiance (N, H, W, 3) float32, sh
    (N, 9, 3), sun (N, 2, 3) (see third_party/polyhaven_hdri/convert.py)."""
    with np.load(path or ENVIRONMENTS) as z:
        lo, hi = z["log2_range"][:, 0], z["log2_range"][:, 1]
        q = z["radiance_log"].astype(np.float32) / 255.0
        radiance = np.exp2(lo[:, None, None, None] + (hi - lo)[:, None, None, None] * q)
        return dict(radiance=radiance.astype(np.float32), sh=z["sh"].astype(np.float32),
                    sun=np.stack([z["sun_direction"], z["sun_colour"]], 1).astype(np.float32))


# Where skin detail sits, from the 68 landmarks in template space (cm): (name, landmark indices
# averaged, offset, radius).  Blood shows at the nose tip and the cheeks (between the jaw and the
# nostrils), the skin under the lower lids is thin and dark, and the forehead and nose are the
# oily T-zone.
SKIN_BLOBS = (("nose_tip", (30,), (0.0, 0.0, 0.0), 1.3),
              ("cheek_right", (2, 31), (0.0, 0.5, 0.0), 2.2),
              ("cheek_left", (14, 35), (0.0, 0.5, 0.0), 2.2),
              ("under_eye_right", (40, 41), (0.0, -0.6, 0.0), 0.9),
              ("under_eye_left", (46, 47), (0.0, -0.6, 0.0), 0.9),
              ("forehead", (19, 24), (0.0, 2.8, 0.0), 3.0),
              ("nose_ridge", (27, 28, 29), (0.0, 0.0, 0.0), 1.4))


def skin_blobs(model: fm.FaceModel) -> np.ndarray:
    """(K, 4) SKIN_BLOBS placed on the model's template: centre xyz, radius (cm)."""
    t = np.asarray(model.template, np.float64)[np.asarray(model.landmarks["68"])]
    return np.array([list(t[list(ids)].mean(0) + off) + [r] for _, ids, off, r in SKIN_BLOBS], np.float32)


def scalp(model: fm.FaceModel) -> tuple[np.ndarray, np.ndarray]:
    """(vertex ids (H,), triangles (T, 3) indexing them): the head's skin that any hairline
    `sample_appearance` draws can leave under hair (a cm below the lowest, for its jitter), ears
    excluded."""
    t = np.asarray(model.template)
    part = np.asarray(model.vertex_part)
    ear = landmark_sets.regions_of(t, part)["ear"]
    az = np.abs(np.arctan2(t[:, 0], t[:, 2] + 1.0))
    lowest = np.interp(az, HAIRLINE_KNOTS, [HAIRLINE_FRONT[0], HAIRLINE_FRONT[0] + HAIRLINE_TEMPLE[0],
                                            HAIRLINE_SIDE[0], HAIRLINE_BACK[0]]) - 1.0
    ok = (part <= 1) & ~ear & (t[:, 1] > lowest)
    faces = rs.opaque_faces(model)
    faces = faces[ok[faces].all(1)]
    ids = np.unique(faces)
    return ids.astype(np.int32), np.searchsorted(ids, faces).astype(np.int32)


def mouth_distance(model: fm.FaceModel) -> np.ndarray:
    """(V,) each template vertex's distance (cm) from the nearest of the 68 set's mouth points."""
    t = np.asarray(model.template)
    mouth = t[np.asarray(model.landmarks["68"])[48:68]]
    return np.min(np.linalg.norm(t[:, None] - mouth[None], axis=2), axis=1)


def lip_weight(model: fm.FaceModel) -> np.ndarray:
    """(V,) 1 on the lips, falling to 0 at 0.6 cm from the mouth's points (face vertices only)."""
    return np.clip(1.0 - mouth_distance(model) / 0.6, 0.0, 1.0) * (np.asarray(model.vertex_part) == 0)


def beard_region(model: fm.FaceModel) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(vertex ids (N,), their distance from the mouth (N,) cm, triangles (T, 3) indexing them):
    the skin that any beard `sample_appearance` draws can cover (`paint`'s beard zone at its
    highest offset), ears and lips excluded."""
    t = np.asarray(model.template)
    part = np.asarray(model.vertex_part)
    ear = landmark_sets.regions_of(t, part)["ear"]
    az = np.abs(np.arctan2(t[:, 0], t[:, 2] + 1.0))
    top = np.interp(az, BEARD_TOP_KNOTS, BEARD_TOP_CM) + BEARD_OFFSET_CM[1] * 0.5
    d = mouth_distance(model)
    lips = lip_weight(model)
    skin = np.asarray(rs.vertex_regions(model)) == R["skin"]
    ok = (part <= 1) & skin & ~ear & (az < BEARD_MAX_AZIMUTH) & (t[:, 1] < top) & (t[:, 1] > BEARD_BOTTOM_CM) & (lips < 0.05)
    faces = rs.opaque_faces(model)
    faces = faces[ok[faces].all(1)]
    ids = np.unique(faces)
    return ids.astype(np.int32), d[ids].astype(np.float32), np.searchsorted(ids, faces).astype(np.int32)


def curtain_grid(model: fm.FaceModel) -> tuple[np.ndarray, np.ndarray]:
    """The long-hair curtain on the template: (N, 5) rows of template position (3), azimuth (rad,
    0 at the front, increasing towards +x) and height band index, and triangles (T, 3).

    At each azimuth the curtain hangs straight down from the widest point of the head above each
    height (hair drapes over the skull, then falls): its radius is the largest radius, about the
    vertical axis through z = -1 cm, of head vertices within 6 degrees of that azimuth and at or
    above that height, plus 0.5 cm."""
    t = np.asarray(model.template, np.float64)
    head = (np.asarray(model.vertex_part) <= 1) & (t[:, 1] > -12.0)   # skin above the lower neck
    p = t[head]
    az_v = np.arctan2(p[:, 0], p[:, 2] + 1.0)
    r_v = np.hypot(p[:, 0], p[:, 2] + 1.0)
    az = np.radians(np.linspace(*CURTAIN_AZIMUTH_DEG))
    ys = np.linspace(*CURTAIN_HEIGHT_CM)
    rows = []
    for a in az:
        near = np.abs(np.angle(np.exp(1j * (az_v - a)))) < np.radians(6.0)
        for j, y in enumerate(ys):
            sel = near & (p[:, 1] >= y)
            r = (r_v[sel].max() if sel.any() else r_v[near].max()) + 0.5
            rows.append([r * np.sin(a), y, r * np.cos(a) - 1.0, np.angle(np.exp(1j * a)), j])
    n_a, n_y = len(az), len(ys)
    idx = np.arange(n_a * n_y).reshape(n_a, n_y)
    quads = np.stack([idx[:-1, :-1], idx[1:, :-1], idx[1:, 1:], idx[:-1, 1:]], -1).reshape(-1, 4)
    faces = np.concatenate([quads[:, [0, 1, 2]], quads[:, [0, 2, 3]]])
    return np.asarray(rows, np.float32), faces.astype(np.int32)


def torso_grid() -> tuple[np.ndarray, np.ndarray]:
    """The torso's grid: (N, 5) rows of azimuth (rad, 0 at the front, increasing towards +x),
    height y (cm), the half-width, half-depth and centre z of the cross-section there (TORSO_*
    profiles, linear between their heights), and its triangles (T, 3): a closed ring at each of
    TORSO_GRID heights from the neck's base down past the crop."""
    n_a, n_y = TORSO_GRID
    az = np.linspace(-np.pi, np.pi, n_a, endpoint=False)
    ys = np.linspace(TORSO_Y_CM[0], TORSO_Y_CM[-1], n_y)
    prof = [np.interp(-ys, -np.asarray(TORSO_Y_CM), np.asarray(v)) for v in (TORSO_A_CM, TORSO_B_CM, TORSO_ZC_CM)]
    rows = np.array([[a, y, prof[0][j], prof[1][j], prof[2][j]] for a in az for j, y in enumerate(ys)], np.float32)
    idx = np.arange(n_a * n_y).reshape(n_a, n_y)
    nxt = np.roll(idx, -1, axis=0)
    quads = np.stack([idx[:, :-1], nxt[:, :-1], nxt[:, 1:], idx[:, 1:]], -1).reshape(-1, 4)
    faces = np.concatenate([quads[:, [0, 1, 2]], quads[:, [0, 2, 3]]])
    return rows, faces.astype(np.int32)


def make_assets(model: fm.FaceModel, backgrounds: bool = True, env_prob: float = 0.0,
                identity_sd: tuple[float, float] = (1.0, 1.0), **switches) -> Assets:
    """env_prob: the chance that a sample is lit by a real environment map and shows it behind
    the head (the rest: random spherical-harmonic light and photo or procedural backgrounds).
    identity_sd: (low, high) range of each head's identity standard deviation (`Assets.identity_sd`).
    switches: REALISM_SWITCHES by name (skin_detail=True, ...); each one off compiles and renders
    the same program as before it existed."""
    if not 0.0 <= env_prob <= 1.0:
        raise ValueError(f"env_prob must be in [0, 1], got {env_prob}")
    identity_sd = check_identity_sd(identity_sd)
    on = realism_switches(**switches)
    t = np.asarray(model.template)
    part = np.asarray(model.vertex_part)
    lm68 = np.asarray(model.landmarks["68"])
    lips = lip_weight(model)
    ear = landmark_sets.regions_of(t, part)["ear"].astype(np.float32)
    skin = (part <= 1).astype(np.float32)
    brow = np.stack([t[lm68[[21, 20, 19, 18, 17]]], t[lm68[[22, 23, 24, 25, 26]]]])
    brow_coords = np.stack([np.asarray(c) for c in _polyline_coords(jnp.asarray(t), jnp.asarray(brow))], 1)
    attr = np.concatenate([t, lips[:, None], ear[:, None], skin[:, None], brow_coords], 1).astype(np.float32)
    names = model.landmark_regions["703"]
    roi = np.asarray([v for v, n in zip(np.asarray(model.landmarks["703"]), names) if n != "neck"], np.int32)
    faces = rs.opaque_faces(model)
    bgs = load_backgrounds() if backgrounds else np.zeros((0, BACKGROUND_SIZE, BACKGROUND_SIZE, 3), np.uint8)
    if env_prob > 0:
        env = load_environments()
    else:   # nothing to carry through every compiled renderer
        env = dict(radiance=np.zeros((0, 1, 2, 3), np.float32), sh=np.zeros((0, 9, 3), np.float32),
                   sun=np.zeros((0, 2, 3), np.float32))
    return Assets(jnp.asarray(faces), jnp.asarray(rs.facing_signs(faces)), jnp.asarray(rs.vertex_regions(model)),
                  jnp.asarray(attr), jnp.asarray(roi),
                  jnp.asarray(np.asarray(model.joint_template)[2:4], jnp.float32), jnp.asarray(bgs),
                  jnp.asarray(env["radiance"]), jnp.asarray(env["sh"]), jnp.asarray(env["sun"]),
                  jnp.asarray(env_prob, jnp.float32),
                  jnp.asarray(skin_blobs(model)),
                  *(map(jnp.asarray, scalp(model)) if on["hair_volume"]
                    else (jnp.zeros(0, jnp.int32), jnp.zeros((0, 3), jnp.int32))),
                  *(map(jnp.asarray, curtain_grid(model)) if on["long_hair"]
                    else (jnp.zeros((0, 5), jnp.float32), jnp.zeros((0, 3), jnp.int32))),
                  jnp.asarray(1.0 if on["eyelashes"] else 0.0, jnp.float32),
                  *(map(jnp.asarray, torso_grid()) if on["shoulders"]
                    else (jnp.zeros((0, 5), jnp.float32), jnp.zeros((0, 3), jnp.int32))),
                  *(map(jnp.asarray, beard_region(model)) if on["beard_volume"]
                    else (jnp.zeros(0, jnp.int32), jnp.zeros(0, jnp.float32), jnp.zeros((0, 3), jnp.int32))),
                  jnp.asarray(1.0 if on["natural_light"] else 0.0, jnp.float32),
                  jnp.asarray(1.0 if on["cast_shadows"] else 0.0, jnp.float32),
                  jnp.asarray(1.0 if on["skin_detail"] else 0.0, jnp.float32),
                  jnp.asarray(1.0 if on["lenses"] else 0.0, jnp.float32),
                  jnp.asarray(identity_sd, jnp.float32))


def check_identity_sd(identity_sd) -> tuple[float, float]:
    """(low, high) as floats; a ValueError unless 0 < low <= high <= 3 (beyond 3 the model's
    linear shape space makes faces no person has)."""
    low, high = (float(v) for v in identity_sd)
    if not 0.0 < low <= high <= 3.0:
        raise ValueError(f"identity spread must satisfy 0 < low <= high <= 3, got ({low}, {high})")
    return low, high


# The upper lash line and lid margin seen at a 160 px render (a head ~110 px wide): ~1 px.
LASH_WIDTH_PX = 1.0


def eye_rim(key: jax.Array, eye: jax.Array, skin: jax.Array, albedo: jax.Array, hair: jax.Array) -> jax.Array:
    """albedo (S, S, 3) with the skin about the eye opening darkened: lashes and the lid margin's
    shadow, the darkest line of a real eye at low resolution, which a plain skin-to-white edge
    lacks.  eye: (S, S) bool eye pixels (sclera, iris); skin: (S, S) bool skin pixels; hair: (3,)
    the head's hair colour (lashes are darker).  The line is LASH_WIDTH_PX wide at 160 px, scaled
    to the render's size (at least a pixel); its darkness varies per face (mascara to fair lashes)."""
    size = eye.shape[0]
    r = max(1, int(round(LASH_WIDTH_PX * size / 160.0)))   # static: the window's size
    near = jax.lax.reduce_window(eye.astype(jnp.float32), 0.0, jax.lax.max, (2 * r + 1, 2 * r + 1), (1, 1), "SAME")
    ring = (near > 0) & skin & ~eye
    k1, k2 = jax.random.split(key)
    dark = jax.random.uniform(k1, (), minval=0.45, maxval=0.9)
    lash = hair * jax.random.uniform(k2, (), minval=0.15, maxval=0.4)
    return jnp.where(ring[..., None], albedo * (1 - dark) + lash * dark, albedo)


# Cast shadows, looked for in screen space (`cast_shadow`).
SHADOW_STEPS = 12                  # points towards the light per pixel
SHADOW_REACH_CM = (2.0, 8.0)       # how far towards the light blockers are looked for (random per sample)
SHADOW_THICKNESS_CM = 10.0         # a surface more than this in front of a point is in front of the light's path, not on it
SHADOW_BIAS_CM = 0.2               # plus two pixels' footprint: no surface shadows itself
SHADOW_SOFT_PX = (0.5, 2.5)        # penumbra blur (Gaussian sd) at 160 px, random per sample


def cast_shadow(key: jax.Array, depth: jax.Array, light_dir: jax.Array, focal: jax.Array,
                principal_point: jax.Array) -> jax.Array:
    """(S, S) the share of the key light that reaches the surface seen at each pixel: 1 lit, 0 in
    a cast shadow (the nose's on the cheek, the jaw's on the neck, the brows' in the eye sockets,
    hair's on the forehead).  depth (S, S) the z-buffer's depths (inf: background), light_dir (3,)
    towards the light, camera space.  From each pixel's surface point, points towards the light at
    distances up to a random reach are projected into the image; a surface seen there in front of
    such a point (by more than a pixel's footprint, less than SHADOW_THICKNESS_CM) blocks the light.
    The penumbra is a blur of random width.  Screen space: blockers outside the image or hidden
    from the camera cast nothing."""
    s = depth.shape[0]
    k = jax.random.split(key, 2)
    reach = jax.random.uniform(k[0], (), minval=SHADOW_REACH_CM[0], maxval=SHADOW_REACH_CM[1])
    soft = jax.random.uniform(k[1], (), minval=SHADOW_SOFT_PX[0], maxval=SHADOW_SOFT_PX[1]) * s / 160.0
    g = jnp.arange(s, dtype=jnp.float32) + 0.5
    seen = jnp.isfinite(depth)
    d = jnp.where(seen, depth, 1.0)
    # A point at depth d seen at (u, v) is d ((u - cx) / f, -(v - cy) / f, -1) (`geometry.project`).
    p = jnp.stack(jnp.broadcast_arrays((g[None, :] - principal_point[0]) / focal * d,
                                       -(g[:, None] - principal_point[1]) / focal * d, -d), -1)      # (S, S, 3)
    t = reach * ((jnp.arange(SHADOW_STEPS, dtype=jnp.float32) + 1) / SHADOW_STEPS) ** 1.5           # (K,) near first
    q = p[..., None, :] + t[:, None] * light_dir                                                     # (S, S, K, 3)
    qd = -q[..., 2]
    uv = geometry.project(q.at[..., 2].set(-jnp.maximum(qd, 1e-3)), focal, principal_point)   # behind the camera: masked
    u, v = uv[..., 0], uv[..., 1]
    inside = (u >= 0) & (u < s) & (v >= 0) & (v < s) & (qd > 1e-3)
    iu = jnp.clip(jnp.floor(u), 0, s - 1).astype(jnp.int32)
    iv = jnp.clip(jnp.floor(v), 0, s - 1).astype(jnp.int32)
    gap = qd - depth[iv, iu]          # > 0: the surface seen there is nearer the camera than the point
    bias = SHADOW_BIAS_CM + 2.0 * d[..., None] / focal
    blocked = jnp.any(inside & (gap > bias) & (gap < SHADOW_THICKNESS_CM), -1) & seen
    lit = aug.gaussian_blur(1.0 - blocked.astype(jnp.float32)[..., None], soft, taps=13)[..., 0]
    # Where no shadow reaches, exactly 1 (the blur's weights sum to 1 only to float rounding): those
    # pixels render as with the switch off.
    return jnp.where(lit > 1.0 - 1e-5, 1.0, jnp.clip(lit, 0.0, 1.0))


def skin_detail(key: jax.Array, pos: jax.Array, ear: jax.Array, is_skin: jax.Array, albedo: jax.Array,
                spec_k: jax.Array, blobs: jax.Array):
    """Skin that is not one plastic colour: (albedo (..., 3), specular strength (...), wrap (..., 3)).

    pos (..., 3) template position, ear (...) ear weight, is_skin (...) bool, blobs (K, 4) from
    `skin_blobs`.  Per sample: blood (haemoglobin: red up, green and blue down) at the nose tip,
    cheeks and ears; darker, bluer skin under the eyes; extra shine on the T-zone; and a wrap
    per channel, (n.l + w) / (1 + w), that softens the key light's terminator, most in red (light
    scattered under the skin travels farthest in red)."""
    k = jax.random.split(key, 4)
    blood = jax.random.uniform(k[0], (), minval=0.0, maxval=0.35)
    socket = jax.random.uniform(k[1], (), minval=0.0, maxval=0.25)
    oil = jax.random.uniform(k[2], (), minval=0.0, maxval=2.0)
    wrap = jax.random.uniform(k[3], (), minval=0.3, maxval=1.0)
    w = jnp.exp(-jnp.sum((pos[..., None, :] - blobs[:, :3]) ** 2, -1) / (2 * blobs[:, 3] ** 2))   # (..., K)
    redness = jnp.maximum(jnp.max(w[..., 0:3], -1), 0.6 * ear)
    under = jnp.max(w[..., 3:5], -1)
    tzone = jnp.max(w[..., 5:7], -1)
    tinted = albedo * (1 + blood * redness[..., None] * jnp.array([0.08, -0.3, -0.25]))
    tinted = tinted * (1 - socket * under[..., None] * jnp.array([1.0, 1.05, 0.8]))
    m = is_skin[..., None]
    return (jnp.where(m, tinted, albedo), jnp.where(is_skin, spec_k * (1 + oil * tzone), spec_k),
            jnp.where(m, wrap * jnp.array([0.5, 0.28, 0.22]), 0.0))


# ---------------------------------------------------------------------------------------------
# Procedural appearance.

class Appearance(NamedTuple):
    skin: jax.Array            # (3,) base albedo
    skin_waves: jax.Array      # (3, 8, 4) low-frequency waves (direction * frequency, phase); [0,0,3] seeds cell noise
    freckles: jax.Array        # () amount
    lip: jax.Array             # (3,)
    hair: jax.Array            # (3,)
    hairline: jax.Array        # (4,) front, temple, side, back heights (cm); front > 14: bald
    brow: jax.Array            # (4,) thickness inner, outer (cm), vertical offset, darkness
    beard: jax.Array           # (3,) stubble amount, full beard flag, top offset (cm)
    eyeshadow: jax.Array       # (4,) colour, amount
    iris: jax.Array            # (3,)
    sclera: jax.Array          # (3,)
    teeth: jax.Array           # (3,)
    clothing: jax.Array        # (8,) colour (3), second colour (3), collar height, stripe frequency
    specular: jax.Array        # () skin specular strength
    hair_volume: jax.Array     # () how far scalp hair stands off the head (cm), with `hair_shell`
    long_hair: jax.Array       # (4,) on (0 / 1), end height (cm), face opening left, right (rad): `hair_curtain`
    torso: jax.Array           # (3,) width and depth scales, share of the head's yaw the body turns: `torso`
    beard_volume: jax.Array    # () how far a full beard stands off the skin (cm; 0: none), with `beard_shell`


def sample_appearance(key: jax.Array) -> Appearance:
    ks = jax.random.split(key, 24)
    u = lambda k, lo=0.0, hi=1.0, shape=(): jax.random.uniform(k, shape, minval=lo, maxval=hi)  # noqa: E731
    tone = u(ks[0]) ** 1.2
    tint = jnp.array([1.0, 1.0, 1.0]) + jnp.array([0.06, -0.02, -0.06]) * jax.random.normal(ks[1])
    skin = (SKIN_LIGHT * (1 - tone) + SKIN_DARK * tone) * tint
    dirs = jax.random.normal(ks[2], (3, 8, 3))
    dirs = dirs / jnp.linalg.norm(dirs, axis=-1, keepdims=True)
    freq = jnp.array([0.5, 9.0, 2.5])[:, None, None] * u(ks[3], 0.7, 1.4, (3, 8, 1))
    waves = jnp.concatenate([dirs * freq, u(ks[4], 0, 2 * np.pi, (3, 8, 1))], -1)
    freckles = jnp.where(u(ks[5]) < 0.2, u(ks[6], 0.3, 1.0), 0.0) * (1 - tone)
    lipstick = u(ks[7]) < 0.2
    natural = skin * jnp.array([1.0, 0.62, 0.62]) * u(ks[8], 0.65, 1.0)
    painted = jnp.array([0.45, 0.03, 0.06]) * u(ks[9], 0.4, 1.2, (3,))
    lip = jnp.where(lipstick, painted, natural)
    hair = jnp.asarray(HAIR_COLOURS)[jax.random.randint(ks[10], (), 0, len(HAIR_COLOURS))] * u(ks[11], 0.7, 1.3, (3,))
    bald = u(ks[12]) < 0.1
    front = jnp.where(bald, 20.0, u(ks[13], *HAIRLINE_FRONT))
    hairline = jnp.stack([front, front + u(ks[14], *HAIRLINE_TEMPLE), u(ks[15], *HAIRLINE_SIDE),
                          u(ks[16], *HAIRLINE_BACK)])
    # From its own stream (fold_in), so that every other draw stays what it was.
    hair_volume = jnp.where(bald, 0.0, u(jax.random.fold_in(key, 1), *HAIR_VOLUME_CM))
    kl = jax.random.split(jax.random.fold_in(key, 2), 4)
    long_hair = jnp.stack([(u(kl[0]) < LONG_HAIR_PROB) & ~bald, u(kl[1], *LONG_HAIR_END_CM),
                           jnp.radians(u(kl[2], *LONG_HAIR_OPENING_DEG)), jnp.radians(u(kl[3], *LONG_HAIR_OPENING_DEG))])
    kbr = jax.random.split(ks[17])
    brow = jnp.concatenate([u(kbr[0], 0.3, 0.6, (1,)), u(kbr[1], 0.12, 0.3, (1,)),
                            u(ks[18], -0.1, 0.4, (1,)), u(ks[19], 0.65, 1.0, (1,))])
    kb = jax.random.split(ks[20], 6)
    male = u(kb[0]) < 0.5
    beard = jnp.stack([jnp.where(male & (u(kb[1]) < 0.5), u(kb[2], 0.2, 1.0), 0.0),
                       (male & (u(kb[3]) < 0.35)).astype(jnp.float32), u(kb[4], *BEARD_OFFSET_CM)])
    # From its own stream, as hair_volume: every other draw stays what it was.
    beard_volume = jnp.where(beard[1] > 0.5, u(jax.random.fold_in(key, 4), *BEARD_VOLUME_CM), 0.0)
    ke = jax.random.split(ks[21], 8)
    eyeshadow = jnp.concatenate([u(ke[0], 0.02, 0.5, (3,)), jnp.where(u(ke[1]) < 0.15, u(ke[2], 0.3, 0.8), 0.0)[None]])
    iris_pal = jnp.array([[0.06, 0.025, 0.01], [0.15, 0.07, 0.02], [0.12, 0.18, 0.25], [0.10, 0.15, 0.07],
                          [0.2, 0.22, 0.25]])
    iris = iris_pal[jax.random.randint(ke[3], (), 0, 5)] * u(ke[4], 0.6, 1.5, (3,))
    sclera = jnp.array([0.78, 0.72, 0.68]) * u(ke[5], 0.8, 1.05, (3,))
    teeth = jnp.array([0.75, 0.68, 0.55]) * u(ke[6], 0.75, 1.05, (3,))
    kc = jax.random.split(ks[22], 5)
    clothing = jnp.concatenate([u(kc[0], 0.01, 0.7, (3,)), u(kc[1], 0.01, 0.7, (3,)),
                                u(kc[2], -17.0, -12.0, (1,)), jnp.where(u(kc[3]) < 0.4, u(kc[4], 1.0, 4.0), 0.0)[None]])
    kt = jax.random.split(jax.random.fold_in(key, 3), 3)
    torso = jnp.stack([u(kt[0], *TORSO_WIDTH), u(kt[1], *TORSO_DEPTH), u(kt[2], *TORSO_TURN)])
    return Appearance(skin, waves, freckles, lip, hair, hairline, brow, beard, eyeshadow, iris, sclera, teeth,
                      clothing, u(ks[23], 0.04, 0.25), hair_volume, long_hair.astype(jnp.float32), torso,
                      beard_volume)


def _waves(p: jax.Array, waves: jax.Array) -> jax.Array:
    """Sum of plane waves in template space, roughly unit variance: (..., 3) -> (...)."""
    return jnp.sum(jnp.sin(p @ waves[:, :3].T + waves[:, 3]), -1) * np.sqrt(2.0 / waves.shape[0])


def _piecewise_linear(x: jax.Array, knots, values) -> jax.Array:
    """jnp.interp for a few static knots, as clipped ramps (interp's search is slow on CPU)."""
    out = values[0]
    for i in range(len(knots) - 1):
        out = out + (values[i + 1] - values[i]) * jnp.clip((x - knots[i]) / (knots[i + 1] - knots[i]), 0.0, 1.0)
    return out


def _cell_noise(pos: jax.Array, cells_per_cm: float, seed: int) -> jax.Array:
    """Uniform [0, 1) constant on cubes of the template space (a surface-attached random field
    finer than the waves, without their regular interference patterns)."""
    i = jnp.floor(pos * cells_per_cm).astype(jnp.int32).astype(jnp.uint32)
    h = i[..., 0] * jnp.uint32(73856093) ^ i[..., 1] * jnp.uint32(19349663) ^ i[..., 2] * jnp.uint32(83492791)
    return aug.hash_to_unit(h ^ jnp.uint32(seed))


def vertex_noise(template: jax.Array, app: "Appearance") -> jax.Array:
    """(V, 3) low-frequency fields evaluated per vertex (interpolated per pixel): skin blotches,
    hairline jitter, eyebrow edge jitter."""
    return jnp.stack([_waves(template, app.skin_waves[0]), _waves(template * 0.8, app.skin_waves[0][:4]),
                      _waves(template * 3.0, app.skin_waves[1][:4])], -1)


def _smoothstep(x):
    x = jnp.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def hairline_height(pos: jax.Array, noise: jax.Array, app: Appearance) -> jax.Array:
    """(...) template height (cm) of the hairline at the azimuth of each position (..., 3):
    scalp above it is hair.  noise: (..., 3) `vertex_noise` (column 1 jitters the line)."""
    az = jnp.abs(jnp.arctan2(pos[..., 0], pos[..., 2] + 1.0))
    return _piecewise_linear(az, HAIRLINE_KNOTS, app.hairline) + 0.35 * noise[..., 1]


def _drawn_only(verts: jax.Array, faces: jax.Array, drawn: jax.Array) -> tuple[jax.Array, jax.Array]:
    """verts (N, 3) camera space plus one vertex behind the camera, and faces (T, 3) with those
    not `drawn` (T,) pointing at it: the rasteriser skips them (fixed shapes, traced choice)."""
    return jnp.concatenate([verts, jnp.array([[0.0, 0.0, 1.0]])]), jnp.where(drawn[:, None], faces, verts.shape[0])


def hair_shell(cam: jax.Array, normals: jax.Array, template: jax.Array, noise: jax.Array, app: Appearance,
               hair_ids: jax.Array, hair_faces: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Scalp hair with volume: the scalp (`scalp`) pushed out along its normals by
    `app.hair_volume`, ramped up over HAIR_RAMP_CM above the hairline, so the head's silhouette
    grows and the hair hides what lies behind it.

    cam (V, 3), normals (V, 3): the posed head in camera space; template (V, 3), noise (V, 3)
    (`vertex_noise`).  Returns shell vertices (H + 1, 3) in camera space, the last one behind the
    camera, and triangles (T, 3) indexing them: a triangle wholly under the hairline points at
    that last vertex, which the rasteriser skips."""
    t, nz = template[hair_ids], noise[hair_ids]
    above = t[:, 1] - hairline_height(t, nz, app)
    thick = app.hair_volume * _smoothstep(above / HAIR_RAMP_CM) * (1 + 0.15 * nz[:, 0])
    # At least 0.05 cm: where the shell is drawn it lies in front of the skin under it.
    shell = cam[hair_ids] + normals[hair_ids] * jnp.maximum(thick, 0.05)[:, None]
    return _drawn_only(shell, hair_faces, jnp.any(above[hair_faces] > 0, axis=1) & (app.hair_volume > 0))


def beard_depth(template: jax.Array, app: Appearance) -> jax.Array:
    """(...) how far (cm) inside the beard zone's top and bottom edges (`paint`) each template
    position (..., 3) lies: positive inside."""
    az = jnp.abs(jnp.arctan2(template[..., 0], template[..., 2] + 1.0))
    top = _piecewise_linear(az, BEARD_TOP_KNOTS, BEARD_TOP_CM) + app.beard[2] * 0.5
    return jnp.minimum(top - template[..., 1], template[..., 1] - BEARD_BOTTOM_CM)


def beard_shell(cam: jax.Array, normals: jax.Array, template: jax.Array, noise: jax.Array, app: Appearance,
                beard_ids: jax.Array, beard_mouth: jax.Array, beard_faces: jax.Array) -> tuple[jax.Array, jax.Array]:
    """A full beard with volume: the beard zone's skin (`beard_region`) pushed out along its
    normals by `app.beard_volume`, ramped up over BEARD_RAMP_CM inside the zone's edges and away
    from the lips, so that the jaw's and chin's silhouette grows and the beard hides what lies
    behind it (the jaw line's landmarks among them), as the painted beard alone does not.

    cam (V, 3), normals (V, 3): the posed head in camera space; template (V, 3), noise (V, 3)
    (`vertex_noise`).  Returns shell vertices (N + 1, 3) in camera space, the last one behind the
    camera, and triangles (T, 3) indexing them: a triangle not wholly inside this sample's zone,
    and every triangle of a head without a full beard, points at that last vertex (skipped)."""
    t, nz = template[beard_ids], noise[beard_ids]
    depth = beard_depth(t, app)
    thick = (app.beard_volume * _smoothstep(depth / BEARD_RAMP_CM) * _smoothstep((beard_mouth - 0.6) / BEARD_RAMP_CM)
             * (1 + 0.15 * nz[:, 0]))
    # At least 0.05 cm: where the shell is drawn it lies in front of the skin under it.
    shell = cam[beard_ids] + normals[beard_ids] * jnp.maximum(thick, 0.05)[:, None]
    drawn = jnp.all(depth[beard_faces] > 0, axis=1) & (app.beard[1] > 0.5) & (app.beard_volume > 0)
    return _drawn_only(shell, beard_faces, drawn)


def hair_curtain(model: fm.FaceModel, params: fm.FaceParams, cam: fm.Camera, app: Appearance,
                 curtain: jax.Array, curtain_faces: jax.Array):
    """Long hair: the `curtain_grid` carried rigidly by the head joint, drawn where the head has
    long hair, above its end (jittered) and outside the face's opening.  It stands off the grid
    by `app.hair_volume` (at least 0.3 cm).

    Returns camera-space vertices (N + 1, 3), the last behind the camera; camera-space normals
    (N + 1, 3) (outward); triangles (T, 3), those not drawn pointing at the last vertex."""
    pos, az = curtain[:, :3], curtain[:, 3]
    radial = jnp.stack([jnp.sin(az), jnp.zeros_like(az), jnp.cos(az)], -1)
    bind = pos + radial * jnp.maximum(app.hair_volume, 0.3)
    one_joint = jnp.zeros((pos.shape[0], model.num_joints)).at[:, 1].set(1.0)   # the head's joint
    joints = fm.joint_locations(model, params.identity)

    def posed(p):
        w = geometry.linear_blend_skinning(p, params.joint_rotations, joints, one_joint, model.joint_parents,
                                           params.translation)
        return geometry.world_to_camera(w, cam.rotation, cam.translation)
    c = posed(bind)
    n = posed(bind + radial) - c
    on, end, open_left, open_right = app.long_hair[0], app.long_hair[1], app.long_hair[2], app.long_hair[3]
    ragged = end + 1.5 * jnp.sin(az * 7.0 + app.hair_volume * 3.0)     # an uneven cut
    opening = jnp.where(az > 0, open_left, open_right)
    drawn_v = (pos[:, 1] >= ragged) & (jnp.abs(az) >= opening) & (on > 0.5)
    verts, faces = _drawn_only(c, curtain_faces, jnp.all(drawn_v[curtain_faces], axis=1))
    return verts, jnp.concatenate([n, jnp.array([[0.0, 0.0, 1.0]])]), faces


def torso(model: fm.FaceModel, params: fm.FaceParams, cam: fm.Camera, app: Appearance, grid: jax.Array):
    """Shoulders and chest: `torso_grid` scaled by the sample's width and depth, turned about the
    vertical through the neck's joint by a share of the head's and neck's yaw (people turn their
    body with their head, less far), and carried by the head's translation; the neck's and head's
    other rotations do not move it.

    Returns template-like positions (N, 3) (for painting: y continues the neck's), camera-space
    vertices (N, 3) and camera-space normals (N, 3) (outward, those of the cross-section)."""
    az, y, a, b, zc = (grid[:, i] for i in range(5))
    e = 2.0 / TORSO_EXPONENT
    s, c = jnp.sin(az), jnp.cos(az)
    x = app.torso[0] * a * jnp.sign(s) * jnp.abs(s) ** e
    z = zc + app.torso[1] * b * jnp.sign(c) * jnp.abs(c) ** e
    pos = jnp.stack([x, y, z], -1)
    # The superellipse's outward normal: the gradient of |x / a|^n + |z / b|^n.
    n = TORSO_EXPONENT
    aw, bd = app.torso[0] * a, app.torso[1] * b
    gx = jnp.sign(x) * jnp.abs(x / aw) ** (n - 1) / aw
    gz = jnp.sign(z - zc) * jnp.abs((z - zc) / bd) ** (n - 1) / bd
    normal = jnp.stack([gx, jnp.zeros_like(gx), gz], -1)
    normal = normal / (jnp.linalg.norm(normal, axis=-1, keepdims=True) + 1e-9)
    yaw = app.torso[2] * (params.joint_rotations[0, 1] + params.joint_rotations[1, 1])
    rot = geometry.axis_angle_to_matrix(jnp.stack([0.0, yaw, 0.0]))
    pivot = fm.joint_locations(model, params.identity)[0]
    world = (pos - pivot) @ rot.T + pivot + params.translation
    cam_rot = geometry.axis_angle_to_matrix(cam.rotation) if cam.rotation.shape == (3,) else cam.rotation
    return pos, geometry.world_to_camera(world, cam.rotation, cam.translation), normal @ rot.T @ cam_rot.T


def paint(pos: jax.Array, attr: jax.Array, noise: jax.Array, region: jax.Array, app: Appearance, assets: Assets):
    """Per-pixel albedo (..., 3), painted region class and specular (strength, exponent).

    pos: (..., 3) template position; attr: (..., 6) lip, ear, skin-part weights and brow
    coordinates (`_polyline_coords`); noise: (..., 3) `vertex_noise`; region: (...) int."""
    x, y, z = pos[..., 0], pos[..., 1], pos[..., 2]
    lip, ear, skin_part = attr[..., 0], attr[..., 1], attr[..., 2] > 0.5
    bd, bt, bdy = attr[..., 3], attr[..., 4], attr[..., 5]
    is_skin = (region == R["skin"]) & skin_part
    # Skin: tone, blotches, pores, freckles, lips.
    blotch = noise[..., 0]
    seed = jnp.floor(app.skin_waves[0, 0, 3] * 1e6).astype(jnp.int32).astype(jnp.uint32)
    pores = _cell_noise(pos, 12.0, seed) * 2 - 1
    freck = (_cell_noise(pos + 0.05 * pores[..., None], 3.5, seed + 1) > 0.85).astype(jnp.float32)
    col = app.skin * (1 + 0.1 * blotch[..., None] + 0.05 * pores[..., None])
    col = col * (1 - 0.45 * app.freckles * freck[..., None] * (y > -3)[..., None])
    col = col * (1 - lip[..., None]) + app.lip * lip[..., None]
    # Eyeshadow over the upper lids.
    ex = jnp.abs(x) - 3.2
    dy = y - 3.9
    shadow = jnp.exp(-(ex / 1.5) ** 2 - (dy / 0.55) ** 2) * (dy > -0.4) * (z > 6.5) * app.eyeshadow[3]
    col = col * (1 - shadow[..., None]) + app.eyeshadow[:3] * shadow[..., None]
    cls = region
    # Eyebrows: a band about each brow polyline, thick at the inner end.
    thick = app.brow[0] * (1 - bt) + app.brow[1] * bt
    strands = 0.5 + 0.5 * pores
    edge = thick + 0.08 * noise[..., 2]
    brow = (jnp.abs(bdy - app.brow[2] * 0.5) < edge) & (bd < 0.5) & (bt > -0.06) & (bt < 1.08) & is_skin
    brow_col = app.hair * 0.7 * (0.6 + 0.6 * strands[..., None])
    mix = app.brow[3] * (0.55 + 0.45 * strands[..., None])
    col = jnp.where(brow[..., None], col * (1 - mix) + brow_col * mix, col)
    cls = jnp.where(brow, R["eyebrows"], cls)
    # Scalp hair above a hairline that runs front -> temple -> side -> back around the head.
    az = jnp.abs(jnp.arctan2(x, z + 1.0))
    h = hairline_height(pos, noise, app)
    hair_strand = 0.5 + 0.25 * jnp.sin(9.0 * az * (4 + y * 0.1) + 2 * noise[..., 1]) + 0.25 * pores
    # Painted on the scalp, or the hair shell's own surface (`hair_shell`).
    hair = ((y > h) & is_skin & (ear < 0.5)) | (region == R["hair"])
    hair_col = app.hair * (0.6 + 0.6 * hair_strand[..., None]) * (1 + 0.25 * noise[..., 0:1])
    # Beard and stubble on the lower face, away from the lips.
    top = _piecewise_linear(az, BEARD_TOP_KNOTS, BEARD_TOP_CM)
    beard_zone = ((y < top + app.beard[2] * 0.5) & (y > BEARD_BOTTOM_CM) & (lip < 0.05) & (az < BEARD_MAX_AZIMUTH)
                  & is_skin)
    speck = (_cell_noise(pos, 9.0, seed + 2) < 0.55).astype(jnp.float32)
    col = jnp.where(beard_zone[..., None], col * (1 - 0.5 * app.beard[0] * speck[..., None]) +
                    app.hair * 0.5 * app.beard[0] * speck[..., None], col)
    full = beard_zone & (app.beard[1] > 0.5)
    col = jnp.where((hair | full)[..., None], hair_col, col)
    cls = jnp.where(hair | full, R["hair"], cls)
    # Clothing below a collar (V-neck at the front).
    collar = app.clothing[6] - 3.0 * jnp.maximum(jnp.cos(az), 0.0) ** 3 * (app.clothing[7] > 2.5)
    cloth = ((y < collar) & is_skin) | (region == R["neck_clothing"])     # the torso's own surface too
    stripes = jnp.where(app.clothing[7] > 0, (jnp.sin(y * app.clothing[7] * 3) > 0).astype(jnp.float32), 0.0)
    cloth_col = app.clothing[:3] * (1 - stripes[..., None]) + app.clothing[3:6] * stripes[..., None]
    cloth_col = cloth_col * (1 + 0.05 * pores[..., None])
    col = jnp.where(cloth[..., None], cloth_col, col)
    cls = jnp.where(cloth, R["neck_clothing"], cls)
    # Eyes: sclera, iris with radial streaks and a dark limbal ring, pupil.  The pupil edge is
    # at PUPIL_DEG, where the pupil landmarks are.
    centre = jnp.where((x > 0)[..., None], assets.eye_centres[0], assets.eye_centres[1])
    d = pos - centre
    polar = jnp.degrees(jnp.arctan2(jnp.linalg.norm(d[..., :2], axis=-1), d[..., 2]))
    azim = jnp.arctan2(d[..., 1], d[..., 0])
    streak = 0.75 + 0.25 * jnp.sin(azim * 23 + jnp.sin(azim * 7) * 2) * jnp.sin(polar * 0.7)
    limbal = 1 - 0.6 * _smoothstep((polar - landmark_sets.LIMBUS_DEG + 7) / 7)
    iris_col = app.iris * streak[..., None] * limbal[..., None]
    iris_col = jnp.where((polar < landmark_sets.PUPIL_DEG)[..., None], 0.01, iris_col)
    veins = 1 - 0.15 * _smoothstep((polar - 45) / 40)[..., None] * jnp.array([0.0, 1.0, 1.0])
    col = jnp.where((region == R["iris"])[..., None], iris_col, col)
    col = jnp.where((region == R["sclera"])[..., None], app.sclera * veins, col)
    # Teeth and mouth interior, darker with depth inside the mouth.
    deep = jnp.clip((z - 3.5) / 7.0, 0.08, 1.0) ** 1.5
    col = jnp.where((region == R["teeth"])[..., None], app.teeth * deep[..., None], col)
    col = jnp.where((region == R["mouth_interior"])[..., None], jnp.array([0.3, 0.06, 0.06]) * deep[..., None], col)
    # Specular strength and exponent by class.  Nested wheres, not jnp.select: XLA turned the
    # select into a reduction that re-evaluated every condition's inputs (8 ms per image).
    # The barrier materialises the per-pixel results so that later fusions do not recompute them.
    eye = (region == R["sclera"]) | (region == R["iris"])
    spec_k = jnp.where(cls == R["hair"], 0.08, jnp.where(eye, 0.9, jnp.where(
        region == R["teeth"], 0.3 * deep, jnp.where(cls == R["neck_clothing"], 0.02, jnp.where(
            cls == R["eyebrows"], 0.03, app.specular * (1 + 0.5 * pores))))))
    spec_n = jnp.where(eye, 300.0, jnp.where(cls == R["hair"], 12.0, 24.0))
    return jax.lax.optimization_barrier((col, cls, spec_k, spec_n))


def _polyline_coords(pos: jax.Array, lines: jax.Array):
    """Distance across (xz plane), parameter along (0 inner .. 1 outer) and height above the
    nearest of two template polylines (2, P, 3), for points (..., 3)."""
    best = None
    for line in (lines[0], lines[1]):
        a, b = line[:-1], line[1:]                   # (P-1, 3)
        ab = b - a
        p = pos[..., None, :]                        # (..., 1, 3)
        t = jnp.clip(jnp.sum((p - a) * ab, -1) / jnp.sum(ab * ab, -1), 0.0, 1.0)  # (..., P-1)
        q = a + t[..., None] * ab
        dist = jnp.linalg.norm((p - q) * jnp.array([1.0, 0.0, 1.0]), axis=-1) + \
            jnp.maximum(jnp.abs(p[..., 1] - q[..., 1]) - 1.5, 0.0)
        k = jnp.argmin(dist, -1)
        seg_len = jnp.linalg.norm(ab, axis=-1)
        cum = jnp.concatenate([jnp.zeros(1), jnp.cumsum(seg_len)])
        along = (cum[k] + jnp.take_along_axis(t, k[..., None], -1)[..., 0] * seg_len[k]) / cum[-1]
        # Extend the parameter past the ends so the band ends where the brow does.
        proj = jnp.sum((pos - line[0]) * (line[-1] - line[0]), -1) / jnp.sum((line[-1] - line[0]) ** 2)
        along = jnp.where((proj < 0) | (proj > 1), proj, along)
        dy = pos[..., 1] - jnp.take_along_axis(q[..., 1], k[..., None], -1)[..., 0]
        d = jnp.take_along_axis(dist, k[..., None], -1)[..., 0]
        cur = (d, along, dy)
        best = cur if best is None else tuple(jnp.where(d < best[0], c, b_) for c, b_ in zip(cur, best))
    return best


# ---------------------------------------------------------------------------------------------
# Light, background, occluders, glasses.

class Light(NamedTuple):
    sh: jax.Array          # (9, 3) ambient order-2 spherical harmonics (in the light's frame)
    direction: jax.Array   # (3,) key light direction towards the light (camera space)
    colour: jax.Array      # (3,) key light colour and strength
    rotation: jax.Array    # (3, 3) camera space -> the light's frame (an environment map's)
    env: jax.Array         # () int32 environment map index, -1: none (random light)


# Natural light's colour (log RGB gains per unit): warm-cool (tungsten to shade) and green-magenta.
WARM = np.array([0.5, 0.0, -0.5], np.float32)
GREEN = np.array([-1 / 3, 2 / 3, -1 / 3], np.float32)
# Their spreads (sd): log(R/B) 0.20 for the key light and 0.15 for the ambient, whose sources differ
# (a lamp against a window); 0.03 / 0.02 of green-magenta.  Photographs keep this much cast after
# the camera's white balance; the augmentation's colour gain (max_gain) comes on top.
NATURAL_WARM_SD = (0.20, 0.15)
NATURAL_GREEN_SD = (0.03, 0.02)


def sample_light(key: jax.Array, natural: jax.Array | bool = False) -> Light:
    """A random key light (direction towards it, colour) and ambient order-2 spherical harmonics.
    natural (a bool or a traced () flag): colours vary along the warm-cool and green-magenta axes
    only, and the ambient's directional variation is grey (the ambient's colour at every normal is
    one colour); off, as before, draw for draw: every channel of the key, the ambient and each
    harmonic varies on its own (log(R/G) sd 0.28 for the ambient), giving pink, lavender and green
    skin."""
    k = jax.random.split(key, 5)
    d = jax.random.normal(k[0], (3,))
    d = d.at[2].set(jnp.abs(d[2]) + 0.3)  # from the camera side, mostly
    d = d / jnp.linalg.norm(d)
    strength = jax.random.uniform(k[2], (), minval=0.4, maxval=2.2)
    level = jax.random.uniform(k[3], (), minval=0.25, maxval=1.1)
    n_key, n_sh = jax.random.normal(k[1], (2,)), jax.random.normal(k[4], (3,))
    natural_colour = jnp.exp(NATURAL_WARM_SD[0] * n_key[0] * WARM + NATURAL_GREEN_SD[0] * n_key[1] * GREEN) * strength
    natural_amb = level * jnp.exp(NATURAL_WARM_SD[1] * n_sh[0] * WARM + NATURAL_GREEN_SD[1] * n_sh[1] * GREEN)
    natural_variation = jax.random.normal(jax.random.fold_in(k[4], 1), (9, 1))   # the same for every channel
    # Before the switch (the same expressions, so off draws what it drew):
    colour = (1.0 + 0.12 * jax.random.normal(k[1], (3,))) * strength
    amb = level * (1.0 + 0.1 * jax.random.normal(k[4], (3,)))
    variation = jax.random.normal(k[4], (9, 3))
    on = jnp.asarray(natural) > 0
    colour, amb = jnp.where(on, natural_colour, colour), jnp.where(on, natural_amb, amb)
    variation = jnp.where(on, natural_variation, variation)
    sh = jnp.zeros((9, 3)).at[0].set(amb / 0.282095 * 0.9)
    sh = sh + 0.15 * variation * amb
    return Light(sh, d, colour, jnp.eye(3), jnp.asarray(-1, jnp.int32))


def sample_environment_light(key: jax.Array, assets: Assets) -> Light:
    """One of the environment maps, turned about the vertical by a uniform angle and tilted a
    little, exposed so that the light falling on a surface facing the camera is as bright as the
    random lights' (a camera metering the face): its direct light becomes the key light, the rest
    the spherical harmonics.  Needs at least one map in `assets`."""
    k = jax.random.split(key, 4)
    idx = jax.random.randint(k[0], (), 0, assets.env_sh.shape[0])
    yaw = jax.random.uniform(k[1], (), minval=0.0, maxval=2 * np.pi)
    tilt = 0.12 * jax.random.normal(k[2], (2,))
    rot = geometry.axis_angle_to_matrix(jnp.stack([tilt[0], yaw, tilt[1]]))    # camera -> map frame
    sh, sun = assets.env_sh[idx], assets.env_sun[idx]
    sun_dir = rot.T @ sun[0]
    facing = rs.sh_basis(rot @ jnp.array([0.0, 0.0, 1.0])) @ sh + jnp.clip(sun_dir[2], 0.0, None) * sun[1]
    target = jax.random.uniform(k[3], (), minval=0.5, maxval=1.6)
    exposure = target / jnp.maximum(jnp.mean(facing), 1e-3)
    return Light(sh * exposure, sun_dir, sun[1] * exposure, rot, idx)


def environment_background(light: Light, exposure_sh0: jax.Array, radiance: jax.Array, rays: jax.Array):
    """What the camera sees of the light's environment map along `rays` (S, S, 3) (unit, camera
    space, into the scene), linear, scaled as the light was: (S, S, 3)."""
    h, w = radiance.shape[1:3]
    d = rays @ light.rotation.T
    u = 0.5 + jnp.arctan2(d[..., 0], -d[..., 2]) / (2 * np.pi)
    v = jnp.arccos(jnp.clip(d[..., 1], -1.0, 1.0)) / np.pi
    x, y = u * w - 0.5, jnp.clip(v * h - 0.5, 0.0, h - 1.0)
    x0, y0 = jnp.floor(x), jnp.floor(y)
    fx, fy = (x - x0)[..., None], (y - y0)[..., None]
    x0, y0 = x0.astype(jnp.int32), y0.astype(jnp.int32)
    xa, xb = x0 % w, (x0 + 1) % w                      # the map wraps around horizontally
    ya, yb = y0, jnp.minimum(y0 + 1, h - 1)
    img = radiance[jnp.maximum(light.env, 0)]
    out = ((img[ya, xa] * (1 - fx) + img[ya, xb] * fx) * (1 - fy) + (img[yb, xa] * (1 - fx) + img[yb, xb] * fx) * fy)
    return out * exposure_sh0


def _mirror(i: jax.Array, n: int) -> jax.Array:
    i = jnp.abs(i) % (2 * n - 2)
    return jnp.where(i >= n, 2 * n - 2 - i, i)


def _bilinear(image: jax.Array, y: jax.Array, x: jax.Array) -> jax.Array:
    """Sample (H, W, C) at pixel-index coordinates (...) with mirrored borders -> (..., C)."""
    h, w = image.shape[:2]
    y0, x0 = jnp.floor(y), jnp.floor(x)
    fy, fx = (y - y0)[..., None], (x - x0)[..., None]
    y0, x0 = y0.astype(jnp.int32), x0.astype(jnp.int32)
    yy0, yy1, xx0, xx1 = _mirror(y0, h), _mirror(y0 + 1, h), _mirror(x0, w), _mirror(x0 + 1, w)
    return ((image[yy0, xx0] * (1 - fx) + image[yy0, xx1] * fx) * (1 - fy) +
            (image[yy1, xx0] * (1 - fx) + image[yy1, xx1] * fx) * fy)


def sample_background(key: jax.Array, size: int, photos: jax.Array) -> jax.Array:
    """(S, S, 3) linear RGB: a random affine crop of a photograph (3 in 4) or a procedural pattern."""
    k = jax.random.split(key, 10)
    if photos.shape[0] == 0:
        return _procedural_background(k, size) ** 2.2
    return jax.lax.cond(jax.random.uniform(k[9]) < 0.75, lambda: _photo_background(k, size, photos),
                        lambda: _procedural_background(k, size)) ** 2.2


def _procedural_background(k, size):
    u = lambda kk, lo=0.0, hi=1.0, shape=(): jax.random.uniform(kk, shape, minval=lo, maxval=hi)  # noqa: E731
    corners = u(k[0], 0.0, 1.0, (2, 2, 3))
    v = jnp.linspace(0.0, 1.0, size)
    grad = (corners[0, 0] * (1 - v)[:, None, None] * (1 - v)[None, :, None] + corners[0, 1] * (1 - v)[:, None, None] *
            v[None, :, None] + corners[1, 0] * v[:, None, None] * (1 - v)[None, :, None] +
            corners[1, 1] * v[:, None, None] * v[None, :, None])
    yy, xx = jnp.meshgrid(v, v, indexing="ij")
    ang = u(k[1], 0, np.pi)
    stripes = 0.5 + 0.5 * jnp.sin((xx * jnp.cos(ang) + yy * jnp.sin(ang)) * u(k[2], 3.0, 40.0))
    return grad * (1 - 0.3 * u(k[3]) * stripes[..., None])


def _photo_background(k, size, photos):
    u = lambda kk, lo=0.0, hi=1.0, shape=(): jax.random.uniform(kk, shape, minval=lo, maxval=hi)  # noqa: E731
    b = photos.shape[1]
    idx = jax.random.randint(k[4], (), 0, photos.shape[0])
    photo = photos[idx].astype(jnp.float32) / 255.0
    zoom = u(k[5], 0.25, 1.0) * b / size
    rot = u(k[6], -0.5, 0.5)
    c, s = jnp.cos(rot), jnp.sin(rot)
    centre = u(k[7], 0.3, 0.7, (2,)) * b
    px = (jnp.arange(size) + 0.5 - size / 2)
    gy, gx = jnp.meshgrid(px, px, indexing="ij")
    sy = centre[0] + zoom * (s * gx + c * gy) - 0.5
    sx = centre[1] + zoom * (c * gx - s * gy) - 0.5
    img = _bilinear(photo, sy, sx) * (1 + 0.2 * jax.random.normal(k[8], (3,)))
    return jnp.clip(img, 0.0, 1.0)


def _capsules(a: jax.Array, b: jax.Array, radius: jax.Array, depth_a: jax.Array, depth_b: jax.Array):
    """Screen-space capsules (N,) as convex 10-gons fanned from their centres.

    a, b: (N, 2) pixel end points; radius: (N,) pixels; depth_*: (N,) distances.
    Returns pixels (N, 11, 2), depths (N, 11), screen normals (N, 11, 2) and faces (N * 10, 3)
    indexing the flattened (N * 11) vertices."""
    n = a.shape[0]
    d = b - a
    length = jnp.linalg.norm(d, axis=-1, keepdims=True)
    d = jnp.where(length > 1e-6, d / jnp.maximum(length, 1e-6), jnp.array([1.0, 0.0]))
    p = jnp.stack([-d[:, 1], d[:, 0]], -1)
    phi = jnp.radians(jnp.array([-90.0, -45.0, 0.0, 45.0, 90.0]))
    arc = jnp.cos(phi)[None, :, None] * d[:, None] + jnp.sin(phi)[None, :, None] * p[:, None]  # (N, 5, 2)
    rim_dir = jnp.concatenate([arc, -arc], 1)                                                  # (N, 10, 2)
    ends = jnp.concatenate([jnp.repeat(b[:, None], 5, 1), jnp.repeat(a[:, None], 5, 1)], 1)
    rim = ends + radius[:, None, None] * rim_dir
    centre = (a + b) / 2
    pix = jnp.concatenate([centre[:, None], rim], 1)
    rim_depth = jnp.concatenate([jnp.repeat(depth_b[:, None], 5, 1), jnp.repeat(depth_a[:, None], 5, 1)], 1)
    depth = jnp.concatenate([((depth_a + depth_b) / 2)[:, None], rim_depth], 1)
    normal = jnp.concatenate([jnp.zeros((n, 1, 2)), rim_dir], 1)
    k = np.arange(10)
    fan = np.stack([np.zeros(10, int), 1 + k, 1 + (k + 1) % 10], 1)                            # (10, 3)
    faces = (fan[None] + 11 * np.arange(n)[:, None, None]).reshape(-1, 3)
    return pix, depth, normal, jnp.asarray(faces, jnp.int32)


def glasses_segments(key: jax.Array, model: fm.FaceModel, params: fm.FaceParams,
                     lens_scale: jax.Array = jnp.ones(2)):
    """World-space segments (N, 2, 3) of a random glasses frame, its thickness (cm) and the two
    lens rims (2, 12, 3) (the frame's first two loops, convex: superellipses of exponent >= 2).
    lens_scale: (2,) factors on the lenses' half width and half height (sunglasses: larger).

    Defined about the identity's eye joints in bind space and carried by the head joint."""
    k = jax.random.split(key, 5)
    u = lambda kk, lo, hi: jax.random.uniform(kk, (), minval=lo, maxval=hi)  # noqa: E731
    joints = fm.joint_locations(model, params.identity)
    rot, trans = geometry.joint_transforms(params.joint_rotations, joints, model.joint_parents, params.translation)
    a, b, n = u(k[0], 2.0, 2.8) * lens_scale[0], u(k[1], 1.3, 2.1) * lens_scale[1], u(k[2], 2.0, 5.0)
    ang = jnp.linspace(0.0, 2 * np.pi, 13)
    cs, sn = jnp.cos(ang), jnp.sin(ang)
    ex = jnp.sign(cs) * jnp.abs(cs) ** (2 / n) * a
    ey = jnp.sign(sn) * jnp.abs(sn) ** (2 / n) * b
    segs, rims = [], []
    lens_z = 2.6 + u(k[3], -0.2, 0.4)
    for side, eye in ((1.0, joints[2]), (-1.0, joints[3])):
        cx = eye[0] + side * u(k[4], 0.0, 0.5)
        pts = jnp.stack([cx + ex, eye[1] - 0.2 + ey, eye[2] + lens_z - 0.06 * ex ** 2], -1)
        segs.append(jnp.stack([pts[:-1], pts[1:]], 1))
        rims.append(pts[:-1])
        outer = jnp.array([cx + side * a, eye[1] + 0.3 * b, eye[2] + lens_z - 0.06 * a * a])
        ear_top = jnp.array([side * 7.7, eye[1] + 0.2, -0.5])
        temple = outer[None] + jnp.linspace(0.0, 1.0, 4)[:, None] * (ear_top - outer)[None]
        segs.append(jnp.stack([temple[:-1], temple[1:]], 1))
        segs.append(jnp.stack([ear_top, ear_top + jnp.array([0.0, -1.5, -1.2])])[None])
    left_in = jnp.array([joints[2][0] - a * 0.95, joints[2][1] + 0.4 * b, joints[2][2] + lens_z])
    right_in = jnp.array([joints[3][0] + a * 0.95, joints[3][1] + 0.4 * b, joints[3][2] + lens_z])
    segs.append(jnp.stack([left_in, right_in])[None])
    segs = jnp.concatenate(segs, 0)  # bind space
    world = jnp.einsum("ij,nkj->nki", rot[1], segs) + trans[1]
    rims = jnp.einsum("ij,nkj->nki", rot[1], jnp.stack(rims)) + trans[1]
    return world, u(k[0], 0.12, 0.35), rims


# Lenses (issue 21): of the glasses drawn, this share are sunglasses (the rest clear), and
# landmarks behind a lens that lets through less than SUNGLASS_HIDES of the light are hidden.
SUNGLASS_PROB = 0.4
SUNGLASS_HIDES = 0.35
# A lens tints what lies at least this far (cm) behind its plane: not its own frame (a capsule of
# radius <= 0.28 cm about the rim).
LENS_MARGIN_CM = 0.3


def lens_depth_at(plane: jax.Array, depth_range: jax.Array, points: jax.Array, focal: jax.Array,
                  principal_point: jax.Array) -> jax.Array:
    """(2, ...) depth (positive, along the view direction, as the z-buffer's) of each lens's plane
    (2, 4: unit normal n and n.c in camera space) along the ray through each pixel point (..., 2),
    clipped to the lens rim's depth range (2, 2: min, max), which keeps an edge-on lens finite."""
    g = points.reshape(-1, 2)
    ray = jnp.stack([(g[:, 0] - principal_point[0]) / focal, -(g[:, 1] - principal_point[1]) / focal,
                     -jnp.ones(g.shape[0])], -1)                                 # a point at depth d: d * ray
    nr = ray @ plane[:, :3].T                                                    # (P, 2)
    nr = jnp.where(jnp.abs(nr) < 1e-6, 1e-6, nr)
    d = jnp.clip(plane[:, 3][None] / nr, depth_range[:, 0][None], depth_range[:, 1][None])
    return d.T.reshape((2,) + points.shape[:-1])


def lens_coverage(rims: jax.Array, points: jax.Array) -> jax.Array:
    """(2, ...) share of each point (..., 2) covered by each convex rim (2, K, 2) in pixels: the
    signed distance to the rim's nearest edge line plus half a pixel, clipped to [0, 1] (a one-
    pixel soft edge).  Either winding."""
    a, b = rims, jnp.roll(rims, -1, axis=1)                                      # (2, K, 2)
    e = b - a
    length = jnp.linalg.norm(e, axis=-1) + 1e-6
    winding = jnp.sign(jnp.sum(e[..., 0] * jnp.roll(e, -1, 1)[..., 1] - e[..., 1] * jnp.roll(e, -1, 1)[..., 0], -1))
    pts = points.reshape(-1, 2)
    rel = pts[None, None] - a[:, :, None]                                       # (2, K, P, 2)
    cross = (e[..., 0, None] * rel[..., 1] - e[..., 1, None] * rel[..., 0]) / length[..., None]
    inside = jnp.min(cross * jnp.where(winding == 0, 1.0, winding)[:, None, None], axis=1)   # (2, P)
    return jnp.clip(inside + 0.5, 0.0, 1.0).reshape((2,) + points.shape[:-1])


def glass_lenses(key: jax.Array, image: jax.Array, depth: jax.Array, occ: "OccluderMesh",
                 light_colour: jax.Array, focal: jax.Array, principal_point: jax.Array):
    """Lenses in the glasses' frames: image (S, S, 3) linear colour with what lies behind each
    lens (depth (S, S), inf on background) seen through it (transmission and tint) plus the
    light it reflects (a soft gradient and sometimes a bright streak); clear lenses, and sunglasses
    (`occ.lens_sun`) that let through 3-25% of the light, most under 10% as photographs show them,
    and reflect more.  Returns (image, (2,) transmission of each lens): 1 where no glasses are drawn."""
    k = jax.random.split(key, 9)
    u = lambda kk, lo=0.0, hi=1.0, shape=(): jax.random.uniform(kk, shape, minval=lo, maxval=hi)  # noqa: E731
    size = image.shape[0]
    g = jnp.arange(size, dtype=jnp.float32) + 0.5
    grid = jnp.stack(jnp.meshgrid(g, g, indexing="xy"), -1)                     # (S, S, 2) x, y
    plane_depth = lens_depth_at(occ.lens_plane, occ.lens_depth_range, grid, focal, principal_point)  # (2, S, S)
    behind = depth[None] > plane_depth + LENS_MARGIN_CM
    cover = lens_coverage(occ.lens_px, grid) * behind * occ.lens_on             # (2, S, S)
    sun = occ.lens_sun
    trans = jnp.where(sun, 0.03 + 0.22 * u(k[1]) ** 2, u(k[2], 0.85, 0.97))
    # Sunglasses: grey, brown, green or blue-grey glass; clear lenses: a faint tint (coatings).
    sun_tint = jnp.array([[1.0, 1.0, 1.0], [1.0, 0.75, 0.5], [0.7, 1.0, 0.7], [0.7, 0.85, 1.0]])
    tint = jnp.where(sun, sun_tint[jax.random.randint(k[3], (), 0, 4)], 1.0 - u(k[4], 0.0, 0.08, (3,)))
    # Reflection: a gradient across the lens along a random direction (sky above, ground below),
    # in the light's colour, and on a third of lenses a bright streak.
    centre = jnp.mean(occ.lens_px, 1)                                           # (2, 2)
    radius = jnp.max(jnp.linalg.norm(occ.lens_px - centre[:, None], axis=-1), -1) + 1e-3
    ang = u(k[5], 0.0, 2 * np.pi)
    d = jnp.array([jnp.cos(ang), jnp.sin(ang)])
    t = jnp.sum((grid[None] - centre[:, None, None]) * d, -1) / radius[:, None, None]      # (2, S, S)
    strength = jnp.where(sun, u(k[6], 0.05, 0.35), u(k[6], 0.0, 0.12))
    streak_on = u(k[7]) < 0.33
    streak_pos = u(k[8], -0.6, 0.6)
    streak = jnp.exp(-0.5 * ((t - streak_pos) / 0.08) ** 2) * streak_on * 0.5
    refl = (strength * jnp.clip(0.5 + 0.5 * t, 0.0, 1.0) ** 2 + streak)[..., None] * light_colour   # (2, S, S, 3)
    out = image
    for i in range(2):
        c = cover[i][..., None]
        out = jnp.where(c > 0, out * (1.0 - c) + c * (out * trans * tint + refl[i]), out)   # exact outside
    return out, jnp.where(occ.lens_on, jnp.full(2, trans), 1.0)


class OccluderMesh(NamedTuple):
    cam: jax.Array      # (N, 3) camera-space vertices (behind the camera when absent)
    faces: jax.Array    # (M, 3) int32
    colour: jax.Array   # (N, 3) linear albedo
    normal: jax.Array   # (N, 3) camera-space normals
    # The glasses' lenses (drawn by `glass_lenses` when the lenses switch is on): rims (2, 12, 2)
    # in pixels, each lens's plane in camera space (2, 4: unit normal, normal . centre), its rim's
    # depth range (2, 2: min, max) and whether the glasses are drawn at all.
    lens_px: jax.Array
    lens_plane: jax.Array
    lens_depth_range: jax.Array
    lens_on: jax.Array
    lens_sun: jax.Array  # () bool: sunglasses (only with the lenses switch on)


def occluder_mesh(key: jax.Array, model: fm.FaceModel, params: fm.FaceParams, camera: fm.Camera, size: int,
                  landmarks: jax.Array, landmark_depth: jax.Array, hair_colour: jax.Array,
                  lenses: jax.Array = jnp.zeros(()), num_landmarks: int | jax.Array | None = None) -> OccluderMesh:
    """Glasses (3D, carried by the head), and at most one of a hand, a bar or loose hair strands
    (screen-space capsules a few cm in front of the face), as triangles for the z-buffer.  lenses
    (the switch, `Assets.lenses`): on, SUNGLASS_PROB of the glasses are sunglasses, their lenses
    larger and their frames heavier (drawn from streams of their own: off draws as before).

    Topology is fixed; a shape that is not drawn this time sits behind the camera.  A hand or
    bar is anchored at one of the first num_landmarks landmarks (default all of them)."""
    k = jax.random.split(key, 16)
    u = lambda kk, lo=0.0, hi=1.0, shape=(): jax.random.uniform(kk, shape, minval=lo, maxval=hi)  # noqa: E731
    f, pp = camera.focal, camera.principal_point
    # Glasses.
    ks = jax.random.split(jax.random.fold_in(k[1], 1), 3)
    sun = (lenses > 0) & (u(ks[0]) < SUNGLASS_PROB)
    # Sunglasses' lenses run larger than clear glasses' (here 4-5.6 x 2.6-4.2 cm; real sunglasses' are
    # ~5.5-6.2 x 4-5): 1.1-1.32 x wider and 1.2-1.44 x taller.
    lens_scale = jnp.where(sun, u(ks[1], 1.0, 1.2, (2,)) * jnp.array([1.1, 1.2]), 1.0)
    segs, thick, rims = glasses_segments(k[0], model, params, lens_scale)
    thick = thick * jnp.where(sun, u(ks[2], 1.0, 1.6), 1.0)
    gc = geometry.world_to_camera(segs, camera.rotation, camera.translation)
    rc = geometry.world_to_camera(rims, camera.rotation, camera.translation)
    gpx = geometry.project(gc, f, pp)
    gz = -gc[..., 2]
    g_r = 0.5 * thick * f / jnp.mean(gz, -1)
    g_on = u(k[1]) < 0.15
    g_col = jnp.broadcast_to(u(k[2], 0.0, 0.5, (3,)) ** 2, (segs.shape[0], 3))
    # Hand: a palm and five fingers, in a random skin tone.
    num_landmarks = landmarks.shape[0] if num_landmarks is None else num_landmarks
    anchor = landmarks[jax.random.randint(k[3], (), 0, num_landmarks)]
    ang = u(k[4], 0, 2 * np.pi)
    dirn = jnp.array([jnp.cos(ang), jnp.sin(ang)])
    perp = jnp.array([-dirn[1], dirn[0]])
    scale = u(k[5], 0.12, 0.22) * size
    palm = anchor + dirn * scale * u(k[6], 0.3, 1.2)
    spread = jnp.array([-0.75, -0.25, 0.25, 0.75])
    bases = palm - dirn * scale * 0.35 + perp[None] * spread[:, None] * scale * 0.32
    tips = bases - dirn[None] * scale * jnp.array([0.55, 0.7, 0.65, 0.5])[:, None]
    thumb_b = palm + perp * scale * 0.35
    thumb_t = thumb_b + (perp * 0.6 - dirn * 0.5) * scale * 0.6
    h_a = jnp.concatenate([(palm - dirn * scale * 0.15)[None], bases, thumb_b[None]])
    h_b = jnp.concatenate([(palm + dirn * scale * 0.4)[None], tips, thumb_t[None]])
    h_r = jnp.concatenate([jnp.array([0.33]), jnp.full(4, 0.085), jnp.array([0.1])]) * scale
    tone = u(k[7]) ** 1.2
    h_col = jnp.broadcast_to((SKIN_LIGHT * (1 - tone) + SKIN_DARK * tone) * u(k[8], 0.8, 1.2), (6, 3))
    # Bar: four pieces of one straight capsule through the anchor.
    bdir = jnp.array([jnp.cos(ang + 1.0), jnp.sin(ang + 1.0)])
    tt = jnp.linspace(-1.0, 1.0, 5)[:, None] * 0.45 * size
    b_pts = anchor + tt * bdir
    b_r = jnp.full(4, u(k[9], 0.015, 0.06) * size)
    b_col = jnp.broadcast_to(u(k[10], 0.0, 1.0, (3,)) ** 2.2, (4, 3))
    # Hair strands: five quadratic curves of four segments each.
    n_str, n_seg = 5, 4
    p0 = anchor + u(k[11], -0.3, 0.3, (n_str, 2)) * size
    p1 = p0 + u(k[12], -0.25, 0.25, (n_str, 2)) * size
    p2 = p0 + u(k[13], -0.4, 0.4, (n_str, 2)) * size
    tc = jnp.linspace(0, 1, n_seg + 1)[None, :, None]
    curve = (1 - tc) ** 2 * p0[:, None] + 2 * (1 - tc) * tc * p1[:, None] + tc ** 2 * p2[:, None]
    s_a, s_b = curve[:, :-1].reshape(-1, 2), curve[:, 1:].reshape(-1, 2)
    s_r = jnp.full(n_str * n_seg, u(k[14], 0.5, 1.0))
    s_col = jnp.broadcast_to(hair_colour, (n_str * n_seg, 3))
    pick = u(k[15])
    front = jnp.min(landmark_depth) - 3.0
    on2d = [pick < 0.12, (pick >= 0.12) & (pick < 0.2), (pick >= 0.2) & (pick < 0.35)]
    a = jnp.concatenate([gpx[:, 0], h_a, b_pts[:-1], s_a])
    b = jnp.concatenate([gpx[:, 1], h_b, b_pts[1:], s_b])
    r = jnp.concatenate([g_r, h_r, b_r, s_r])
    on = jnp.concatenate([jnp.full(segs.shape[0], g_on), jnp.full(6, on2d[0]), jnp.full(4, on2d[1]),
                          jnp.full(n_str * n_seg, on2d[2])])
    n_g = segs.shape[0]
    da = jnp.concatenate([gz[:, 0], jnp.full(a.shape[0] - n_g, front)])
    db = jnp.concatenate([gz[:, 1], jnp.full(a.shape[0] - n_g, front)])
    da, db = jnp.where(on, da, -1.0), jnp.where(on, db, -1.0)
    pix, depth, nrm, faces = _capsules(a, b, r, da, db)
    colour = jnp.concatenate([g_col, h_col, b_col, s_col])
    pix, depth = pix.reshape(-1, 2), depth.reshape(-1)
    cam = jnp.stack([(pix[:, 0] - pp[0]) * depth / f, -(pix[:, 1] - pp[1]) * depth / f, -depth], -1)
    nrm = nrm.reshape(-1, 2)
    normal = jnp.stack([nrm[:, 0], -nrm[:, 1], jnp.full(nrm.shape[0], 0.8)], -1)
    normal = normal / jnp.linalg.norm(normal, axis=-1, keepdims=True)
    # Each lens's plane through its rim's centre, spanned by its horizontal and vertical diameters
    # (rim points 0 / 6 and 3 / 9: 0, 180, 90 and 270 degrees round the lens).
    normal_l = jnp.cross(rc[:, 0] - rc[:, 6], rc[:, 3] - rc[:, 9])
    normal_l = normal_l / (jnp.linalg.norm(normal_l, axis=-1, keepdims=True) + 1e-9)
    plane = jnp.concatenate([normal_l, jnp.sum(normal_l * rc.mean(1), -1, keepdims=True)], -1)
    depth_range = jnp.stack([jnp.min(-rc[..., 2], -1), jnp.max(-rc[..., 2], -1)], -1)
    return OccluderMesh(cam, faces, jnp.repeat(colour, 11, axis=0), normal, geometry.project(rc, f, pp),
                        plane, depth_range, g_on, sun)


# ---------------------------------------------------------------------------------------------
# One sample, a batch, a stream.

class Batch(NamedTuple):
    """A labelled sample (or a batch: every field gains a leading axis)."""
    image: jax.Array           # (S, S, 3) float32 display values in [0, 1]
    mask: jax.Array            # (S, S) int32 region class (`scene.REGION_NAMES`), 0 background
    landmarks: jax.Array       # (L, 2) float32 pixels
    visible: jax.Array         # (L,) bool
    params: fm.FaceParams
    camera: fm.Camera


def raster_levels(size: int, levels: tuple, grow: float = 1.0) -> tuple:
    """Places per window for a `size` crop: a triangle's pixel extent scales with the size, so
    the counts per window class stay about the same when windows scale with it too.  grow: more
    places in proportion, for more triangles than the head's and the occluders' (hair volume)."""
    f = size / 256.0
    out, seen = [], set()
    for w, n in levels:
        w2 = max(2, int(np.ceil(w * f)))
        if w2 in seen:
            continue
        seen.add(w2)
        out.append((w2, int(np.ceil(n * grow))))
    return tuple(out)


def raster_places(size: int, grow: float = 1.0) -> tuple:
    """(levels, fallback) of the renderer's rasteriser for a `size` crop (`raster_levels`).  Under
    128 px the windows stop scaling with the triangles (none is under 2 px) and the size classes
    crowd together, so the fallback gets more places in proportion (64 px renders had holes)."""
    small = max(1.0, 128.0 / size) ** 2
    return raster_levels(size, RASTER_LEVELS, grow), raster_levels(size, RASTER_FALLBACK, grow * small)


def crop_camera(key: jax.Array, model: fm.FaceModel, assets: Assets, params: fm.FaceParams,
                camera: fm.Camera, size: int, crop_scale: float = 1.0) -> fm.Camera:
    """A jittered square crop about the head: the box of the non-neck landmarks fills a random
    fraction of the image, shifted and rolled at random (a roll of the camera about its axis).
    crop_scale < 1 shrinks the head and the shift by that factor: a render pool drawn wider
    than the training crop, so training can take its own scale, shift and roll from it."""
    k1, k2, k3 = jax.random.split(key, 3)
    roll = jax.random.uniform(k1, (), minval=-1.0, maxval=1.0) * np.radians(CROP_ROLL_DEG)
    cam = camera.replace(rotation=jnp.array([0.0, 0.0, 1.0]) * roll)
    pts = fm.vertices(model, params, assets.roi_ids)
    px = fm.project_points(cam, pts)
    lo, hi = px.min(0), px.max(0)
    fill = jax.random.uniform(k2, (), minval=CROP_FILL[0], maxval=CROP_FILL[1]) * crop_scale
    scale = fill * size / jnp.max(hi - lo)
    shift = jax.random.uniform(k3, (2,), minval=-CROP_SHIFT, maxval=CROP_SHIFT) * size * crop_scale
    return cam.replace(focal=cam.focal * scale,
                       principal_point=(cam.principal_point - (lo + hi) / 2) * scale + size / 2 + shift)


def render_sample(key: jax.Array, model: fm.FaceModel, assets: Assets, size: int, landmark_ids: jax.Array,
                  ranges: scenes.SceneRanges = scenes.SceneRanges(),
                  augment_ranges: aug.AugmentRanges | None = aug.AugmentRanges(),
                  identity: jax.Array | None = None, crop_scale: float | jax.Array = 1.0,
                  augment_on: bool | jax.Array = True, num_landmarks: int | jax.Array | None = None) -> Batch:
    """One labelled sample; pure, jit- and vmap-able (size static).  identity: (I,) render this
    person (pose, expression, camera, look still drawn from `key`) instead of a random one.
    crop_scale: see `crop_camera`.  augment_on, num_landmarks: see `render_scene`."""
    params, cam = sample_view(key, model, assets, size, ranges, identity, crop_scale)
    return render_scene(key, model, assets, size, landmark_ids, params, cam, augment_ranges, augment_on, num_landmarks)


def sample_view(key: jax.Array, model: fm.FaceModel, assets: Assets, size: int,
                ranges: scenes.SceneRanges = scenes.SceneRanges(), identity: jax.Array | None = None,
                crop_scale: float = 1.0):
    """(params, crop camera) of the sample `render_sample(key, ...)` draws, without rendering it
    (ground truth of a render at a fraction of its cost)."""
    ks = jax.random.split(key, 9)
    # The spread's draw has a key of its own, so the identity's direction is the same at any spread.
    lo, hi = assets.identity_sd[0], assets.identity_sd[1]
    sd = lo + (hi - lo) * jax.random.uniform(jax.random.fold_in(ks[0], 1))
    sc = scenes.sample_scene(ks[0], model, size, ranges, identity_scale=sd, identity=identity)
    return sc.params, crop_camera(ks[1], model, assets, sc.params, sc.camera, size, crop_scale)


def render_scene(key: jax.Array, model: fm.FaceModel, assets: Assets, size: int, landmark_ids: jax.Array,
                 params: fm.FaceParams, cam: fm.Camera,
                 augment_ranges: aug.AugmentRanges | None = aug.AugmentRanges(),
                 augment_on: bool | jax.Array = True, num_landmarks: int | jax.Array | None = None) -> Batch:
    """Render given face parameters seen by `cam` (size x size pixels); the look (skin, hair,
    glasses, occluders, light, background, augmentation) is drawn from `key` exactly as
    `render_sample` draws it, so the frames of a video share one key and differ only in
    `params`.  Pure, jit- and vmap-able (size static).  Augmentation (drawn from
    `augment_ranges`, None for none) is applied when `augment_on`: a traced bool makes it a
    value, so one compiled renderer serves both.  num_landmarks: the set's true length when
    landmark_ids is padded (with copies of its first id): the image is then the unpadded set's."""
    ks = jax.random.split(key, 9)
    verts = fm.vertices(model, params)
    c = geometry.world_to_camera(verts, cam.rotation, cam.translation)
    px = geometry.project(c, cam.focal, cam.principal_point)
    lc, lpx = c[landmark_ids], px[landmark_ids]
    app = sample_appearance(ks[2])
    occ = occluder_mesh(ks[6], model, params, cam, size, lpx, -lc[:, 2], app.hair, assets.lenses, num_landmarks)
    nv = c.shape[0]
    noise = vertex_noise(assets.vertex_attr[:, :3], app)
    normals = rs.vertex_normals(c, assets.faces)
    occ_attr = jnp.concatenate([occ.colour, jnp.zeros((occ.colour.shape[0], assets.vertex_attr.shape[1]))], 1)
    face_attr = jnp.concatenate([assets.vertex_attr, noise], 1)
    verts = [c, occ.cam]
    faces = [assets.faces, occ.faces + nv]
    cull = [assets.cull, jnp.zeros(occ.faces.shape[0])]
    attr = [jnp.concatenate([face_attr, normals], 1), jnp.concatenate([occ_attr, occ.normal], 1)]
    regions = [assets.regions, jnp.full(occ.cam.shape[0], R["occluder"], jnp.int32)]

    def add_hair_shell(shell, shell_faces, base_ids):
        """A shell over the head's vertices base_ids (plus its skipped vertex), painted as hair
        with the attributes and normals of the skin under it."""
        ids = jnp.concatenate([base_ids, base_ids[:1]])
        faces.append(shell_faces + sum(v.shape[0] for v in verts))
        cull.append(jnp.full(shell_faces.shape[0], -1.0))   # oriented as the head (`rs.facing_signs`)
        verts.append(shell)
        attr.append(jnp.concatenate([face_attr[ids], normals[ids]], 1))
        regions.append(jnp.full(shell.shape[0], R["hair"], jnp.int32))

    if assets.hair_ids.shape[0]:   # static: off compiles the renderer as before
        add_hair_shell(*hair_shell(c, normals, assets.vertex_attr[:, :3], noise, app, assets.hair_ids,
                                   assets.hair_faces), assets.hair_ids)
    if assets.beard_ids.shape[0]:   # static, as above
        add_hair_shell(*beard_shell(c, normals, assets.vertex_attr[:, :3], noise, app, assets.beard_ids,
                                    assets.beard_mouth, assets.beard_faces), assets.beard_ids)
    if assets.curtain.shape[0]:    # static, as above
        cv, cn, cf = hair_curtain(model, params, cam, app, assets.curtain, assets.curtain_faces)
        faces.append(cf + sum(v.shape[0] for v in verts))
        cull.append(jnp.zeros(cf.shape[0]))    # both sides: the far side shows through the opening
        verts.append(cv)
        tpos = jnp.concatenate([assets.curtain[:, :3], assets.curtain[:1, :3]])
        c_attr = jnp.concatenate([tpos, jnp.zeros((tpos.shape[0], assets.vertex_attr.shape[1] - 3))], 1)
        attr.append(jnp.concatenate([c_attr, vertex_noise(tpos, app), cn], 1))
        regions.append(jnp.full(cv.shape[0], R["hair"], jnp.int32))
    if assets.torso.shape[0]:      # static, as above
        tpos, tc, tn = torso(model, params, cam, app, assets.torso)
        faces.append(assets.torso_faces + sum(v.shape[0] for v in verts))
        cull.append(jnp.zeros(assets.torso_faces.shape[0]))
        verts.append(tc)
        t_attr = jnp.concatenate([tpos, jnp.zeros((tpos.shape[0], assets.vertex_attr.shape[1] - 3))], 1)
        attr.append(jnp.concatenate([t_attr, vertex_noise(tpos, app), tn], 1))
        regions.append(jnp.full(tc.shape[0], R["neck_clothing"], jnp.int32))
    grow = sum(f.shape[0] for f in faces) / (faces[0].shape[0] + faces[1].shape[0])   # static
    all_c, faces, cull = jnp.concatenate(verts), jnp.concatenate(faces), jnp.concatenate(cull)
    regions = jnp.concatenate(regions)
    all_px = geometry.project(all_c, cam.focal, cam.principal_point)
    levels, fallback = raster_places(size, grow)
    frags = raster.rasterize(all_px, -all_c[:, 2], faces, size, size, levels, cull, fallback=fallback)
    pix = raster.interpolate(frags, faces, jnp.concatenate(attr))         # (S, S, 15)
    tri = jnp.maximum(frags.triangle, 0)
    region = jnp.where(frags.triangle >= 0, regions[faces[tri, 0]], 0)
    albedo, cls, spec_k, spec_n = paint(pix[..., :3], pix[..., 3:9], pix[..., 9:12], region, app, assets)
    is_occ = region == R["occluder"]
    albedo = jnp.where(is_occ[..., None], pix[..., :3], albedo)
    spec_k = jnp.where(is_occ, 0.15, spec_k)
    # Skin detail and eyelashes are values: one compiled renderer whichever is on, and off skips the
    # work (a `lax.cond` on a flag that is the same for the whole batch).  Off, wrap is 0, and the
    # wrapped light below is then the plain clipped n.l exactly ((x + 0) / (1 + 0) is x).
    albedo, spec_k, wrap = jax.lax.cond(
        assets.skin_detail > 0,
        lambda: skin_detail(jax.random.fold_in(ks[2], 1), pix[..., :3], pix[..., 4], cls == R["skin"], albedo,
                            spec_k, assets.skin_blobs),
        lambda: (albedo, spec_k, jnp.zeros(albedo.shape, albedo.dtype)))
    albedo = jax.lax.cond(assets.lashes > 0,
                          lambda: eye_rim(jax.random.fold_in(ks[2], 2), (region == R["sclera"]) | (region == R["iris"]),
                                          cls == R["skin"], albedo, app.hair),
                          lambda: albedo)
    light = sample_light(ks[3], natural=assets.natural_light)
    use_env = jnp.zeros((), bool)
    if assets.env_sh.shape[0]:   # static: assets without maps compile none of this
        ke = jax.random.split(jax.random.fold_in(ks[3], 1), 2)
        use_env = jax.random.uniform(ke[0]) < assets.env_prob
        env_light = sample_environment_light(ke[1], assets)
        light = jax.tree_util.tree_map(lambda a, b: jnp.where(use_env, a, b), env_light, light)
    n = pix[..., 12:15] / (jnp.linalg.norm(pix[..., 12:15], axis=-1, keepdims=True) + 1e-9)
    g = jnp.arange(size, dtype=jnp.float32) + 0.5
    # From the surface seen at each pixel centre towards the camera: a point at depth d there is
    # d ((u - cx) / f, -(v - cy) / f, -1) (`geometry.project`), so the camera lies along
    # ((cx - u) / f, (v - cy) / f, 1); -view is the camera's ray into the scene.
    ray = jnp.stack(jnp.broadcast_arrays((cam.principal_point[0] - g[None, :]) / cam.focal,
                                         (g[:, None] - cam.principal_point[1]) / cam.focal, jnp.ones(())), -1)
    view = ray / jnp.linalg.norm(ray, axis=-1, keepdims=True)
    ndl = jnp.sum(n * light.direction, -1)
    half = light.direction + view
    half = half / (jnp.linalg.norm(half, axis=-1, keepdims=True) + 1e-9)
    facing = jnp.clip((ndl[..., None] + wrap) / (1.0 + wrap), 0.0, None)
    # The key light's share that no surface blocks; off, exactly 1 (x * 1 is x: off renders as before).
    lit = jax.lax.cond(assets.cast_shadows > 0,
                       lambda: cast_shadow(jax.random.fold_in(ks[3], 2), frags.depth, light.direction, cam.focal,
                                           cam.principal_point),
                       lambda: jnp.ones(frags.depth.shape, jnp.float32))
    facing = facing * lit[..., None]
    diffuse = jnp.clip(rs.sh_basis(n @ light.rotation.T) @ light.sh, 0.0, None) + facing * light.colour
    spec = spec_k * jnp.exp(spec_n * jnp.log(jnp.clip(jnp.sum(n * half, -1), 1e-6, 1.0))) * (ndl > 0) * lit
    # Per-pixel scalars are computed once, not once per colour channel inside a fused loop.
    diffuse, spec = jax.lax.optimization_barrier((diffuse, spec))
    colour = albedo * diffuse + spec[..., None] * light.colour
    drawn = frags.triangle >= 0
    background = sample_background(ks[4], size, assets.backgrounds)
    if assets.env_sh.shape[0]:
        # The map's own exposure: the light's SH were scaled from the map's by the same factor.
        exposure = light.sh[0, 0] / jnp.maximum(assets.env_sh[jnp.maximum(light.env, 0), 0, 0], 1e-6)
        env_bg = environment_background(light, exposure, assets.env_radiance, -view)
        background = jnp.where(use_env, env_bg, background)
    image = jnp.where(drawn[..., None], colour, background)
    # Lenses are a value switch, as the flags above, and skipped on a sample without glasses.
    # Landmarks behind sunglasses are hidden.
    def lensed():
        out, trans = glass_lenses(jax.random.fold_in(ks[6], 1), image, frags.depth, occ, light.colour, cam.focal,
                                  cam.principal_point)
        lens_d = lens_depth_at(occ.lens_plane, occ.lens_depth_range, lpx, cam.focal, cam.principal_point)  # (2, L)
        behind = (lens_coverage(occ.lens_px, lpx) > 0.5) & (-lc[None, :, 2] > lens_d + LENS_MARGIN_CM)
        return out, jnp.any(behind & (trans[:, None] < SUNGLASS_HIDES), 0)

    image, lens_hidden = jax.lax.cond((assets.lenses > 0) & occ.lens_on, lensed,
                                      lambda: (image, jnp.zeros(lpx.shape[0], bool)))
    mask = jnp.where(drawn, cls, 0)
    # Seen in the image: inside it, and the nearest surface at its pixel is the landmark's own
    # region near its depth (the head itself, glasses, occluders and the hair and beard shells
    # hide landmarks; hair and beards painted on the skin do not).
    visible = rs.landmark_visibility(frags, lpx, -lc[:, 2], pixel_regions=region,
                                     landmark_regions=assets.regions[landmark_ids])
    visible = visible & ~lens_hidden
    image = jnp.clip(image, 0.0, 1.0) ** (1 / 2.2)
    if augment_ranges is not None and augment_on is not False:
        if augment_on is True:
            image = aug.augment(ks[8], image, augment_ranges)
        else:
            image = jax.lax.cond(augment_on, lambda im: aug.augment(ks[8], im, augment_ranges), lambda im: im, image)
    return Batch(image, mask.astype(jnp.int32), lpx, visible, params, cam)


def _sampler(model, assets, landmark_ids, size, augment_on, crop_scale, num_landmarks=None):
    """render_sample of one key with everything else bound (augment_on and crop_scale static or values)."""
    return functools.partial(render_sample, model=model, assets=assets, size=size, landmark_ids=landmark_ids,
                             augment_ranges=aug.AugmentRanges(), augment_on=augment_on, crop_scale=crop_scale,
                             num_landmarks=num_landmarks)


def _render_batch(keys, model, assets, landmark_ids, size, augment, vectorize, crop_scale):
    fn = _sampler(model, assets, landmark_ids, size, augment, crop_scale)
    return jax.vmap(fn)(keys) if vectorize else jax.lax.map(fn, keys)


_STATIC = ("size", "augment", "vectorize", "crop_scale")
_render_batch_jit = jax.jit(_render_batch, static_argnames=_STATIC)
# XLA:CPU's older loop emitters compile the renderer ~38% faster than its fusion emitters (17 s
# against 28 s for 8 x 64 px on the 2-core AMD EPYC) and run it as fast at small sizes (0.24
# against 0.28 s), but ~20% slower at the pools' 160 px (0.55 against 0.46 s): small renders
# (previews, tests, `dlm synth` at 64 px) take them, pools keep the default.  LLVM at optimisation
# level 1 instead of XLA's default: 14.4 s against 19.6 s to compile, 0.30 against 0.25 s to run
# (level 0: 9.3 s and 0.67 s; same machine and load, one process).
_SMALL_CPU_OPTIONS = {"xla_cpu_use_fusion_emitters": False, "xla_backend_optimization_level": 1}
_render_batch_small_cpu = jax.jit(_render_batch, static_argnames=_STATIC, compiler_options=_SMALL_CPU_OPTIONS)
SMALL_RENDER = 96   # px: at most this size counts as small


def _render_chunk(keys, model, assets, landmark_ids, num_landmarks, augment_on, crop_scale, size):
    return jax.lax.map(_sampler(model, assets, landmark_ids, size, augment_on, crop_scale, num_landmarks), keys)


# A CPU renders one sample after another (lax.map), so a batch's size only sets a loop's length,
# yet each (batch size, landmark count, augment, crop_scale) compiled a renderer of its own
# (~25-30 s each; 18 in the test suite, issue 30).  Top-level CPU renders instead run chunks of
# RENDER_CHUNK samples with the landmark ids padded to a multiple of LANDMARK_PAD and augment and
# crop_scale as values: one program per size and asset shapes.  Each landmark's label depends
# only on its own vertex, and the padding repeats the first id (the nearest landmark's depth, which
# places occluders, is unchanged) and is never an occluder's anchor: the same samples as one call
# of the whole batch (bit for bit at 64 px; at 160 px images within 3e-5 and landmarks 2e-5 px,
# XLA fusing the wider program differently) and as fast (83 against 87 ms an image at 160 px).
RENDER_CHUNK = 8
LANDMARK_PAD = 1024
_render_chunk_jit = jax.jit(_render_chunk, static_argnames=("size",))
_render_chunk_small_cpu = jax.jit(_render_chunk, static_argnames=("size",), compiler_options=_SMALL_CPU_OPTIONS)


@functools.partial(jax.jit, static_argnames=("n", "num_landmarks"))
def _join_chunks(chunks, n, num_landmarks):
    b = jax.tree.map(lambda *xs: jnp.concatenate(xs)[:n], *chunks)
    return b._replace(landmarks=b.landmarks[:, :num_landmarks], visible=b.visible[:, :num_landmarks])


def render_programs() -> int:
    """How many renderer programs this process has compiled (for tests that a switch needs none)."""
    return sum(f._cache_size() for f in (_render_batch_jit, _render_batch_small_cpu, _render_chunk_jit,
                                         _render_chunk_small_cpu))


def _render_chunked(keys, model, assets, landmark_ids, size, augment, crop_scale) -> Batch:
    n, num_landmarks = keys.shape[0], landmark_ids.shape[0]
    padded = -(-num_landmarks // LANDMARK_PAD) * LANDMARK_PAD
    ids = jnp.asarray(landmark_ids, jnp.int32)
    ids = jnp.concatenate([ids, jnp.repeat(ids[:1], padded - num_landmarks)])
    # The last key repeated fills the last chunk; those samples are rendered and dropped.
    take = np.minimum(np.arange(-(-n // RENDER_CHUNK) * RENDER_CHUNK), n - 1)
    keys = keys[take] if len(take) > n else keys
    fn = _render_chunk_small_cpu if size <= SMALL_RENDER else _render_chunk_jit
    flag, scale = jnp.bool_(augment), jnp.float32(crop_scale)
    chunks = [fn(keys[i:i + RENDER_CHUNK], model, assets, ids, jnp.int32(num_landmarks), flag, scale, size=size)
              for i in range(0, len(take), RENDER_CHUNK)]
    return _join_chunks(chunks, n=n, num_landmarks=num_landmarks)


def render_batch(keys: jax.Array, model: fm.FaceModel, assets: Assets, landmark_ids: jax.Array, size: int,
                 augment: bool = True, vectorize: bool | None = None, crop_scale: float = 1.0) -> Batch:
    """Render a batch (B,) of keys; usable inside a jitted training step.  At the top level on
    a CPU one compiled program per size and asset shapes (`_render_chunked`), otherwise one per
    size, switch set, batch shape and landmark count.

    vectorize: vmap over the batch (right for GPUs) or loop over it with lax.map (twice as
    fast on a CPU, where the batched scatters and gathers of the rasteriser are slow); by
    default, vmap unless the default backend is a CPU.  Same images either way."""
    cpu = jax.default_backend() == "cpu"
    if vectorize is None:
        vectorize = not cpu
    # Compiler options apply to a top-level program only (JAX refuses them on a nested jit).
    top = not isinstance(keys, jax.core.Tracer)
    if cpu and top and not vectorize and keys.shape[0] > 0:
        return _render_chunked(keys, model, assets, landmark_ids, size, augment, crop_scale)
    fn = _render_batch_small_cpu if cpu and top and size <= SMALL_RENDER else _render_batch_jit
    return fn(keys, model, assets, landmark_ids, size=size, augment=augment, vectorize=vectorize,
              crop_scale=crop_scale)


def batch_keys(seed: int, start: int, batch_size: int) -> jax.Array:
    """Keys of samples start .. start + B - 1: sample i is always fold_in(key(seed), i).  One
    compiled call (per batch size): run op by op it was ~8% of a training run's input thread."""
    return _batch_keys(jnp.int32(seed), jnp.int32(start), batch_size)


@functools.partial(jax.jit, static_argnames=("batch_size",))
def _batch_keys(seed: jax.Array, start: jax.Array, batch_size: int) -> jax.Array:
    base = jax.random.key(seed)
    return jax.vmap(lambda i: jax.random.fold_in(base, i))(start + jnp.arange(batch_size, dtype=jnp.int32))


def batches(seed: int, batch_size: int, size: int, landmark_set: str = "703", model: fm.FaceModel | None = None,
            start: int = 0, prefetch: int = 2, augment: bool = True, env_prob: float = 0.0,
            **switches) -> Iterator[dict]:
    """An endless deterministic stream of numpy batches {image uint8 (B,S,S,3), landmarks (B,L,2),
    visible (B,L), mask (B,S,S) uint8, index (B,)}; batch j holds samples start + j*B ... .
    env_prob and switches (REALISM_SWITCHES by name): as `make_assets`.

    One background thread renders the next `prefetch` batches while the caller works
    (`dlm.synth.prefetch`); a faster input path for training is a render pool (`dlm.synth.pool`)."""
    model = model or fm.load_face_model()
    assets = make_assets(model, env_prob=env_prob, **switches)
    ids = jnp.asarray(model.landmarks[landmark_set])

    def job(j):
        first = start + j * batch_size
        b = render_batch(batch_keys(seed, first, batch_size), model, assets, ids, size, augment)
        return dict(image=to_uint8(b.image), landmarks=np.asarray(b.landmarks), visible=np.asarray(b.visible),
                    mask=np.asarray(b.mask).astype(np.uint8), index=np.arange(first, first + batch_size))

    return prefetched(job, prefetch, name="synth-batches")


def to_uint8(image: jax.Array) -> np.ndarray:
    return np.asarray(jnp.round(jnp.clip(image, 0, 1) * 255)).astype(np.uint8)


def landmark_vertex_ids(model: fm.FaceModel, landmark_set: str) -> np.ndarray:
    """(L,) int vertex ids of a landmark set; "all": the sorted union of every set (a dataset
    rendered with it trains a network for any set, `load_dataset`)."""
    if landmark_set == "all":
        return np.unique(np.concatenate([np.asarray(v) for v in model.landmarks.values()]))
    if landmark_set not in model.landmarks:
        raise ValueError(f"unknown landmark set {landmark_set!r}: expected one of "
                         f"{sorted(model.landmarks) + ['all']}")
    return np.asarray(model.landmarks[landmark_set])


WRITE_CHUNK = 8  # samples rendered per call when writing a dataset or a pool: fixed so output never depends on --num
