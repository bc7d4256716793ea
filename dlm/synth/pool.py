"""A render pool: synthetic faces rendered once, wider than the training crop, and augmented
afresh every time a sample is drawn (issue 18: "render once, augment every time").

Rendering costs ~30 ms an image on a 2-core CPU, a training step ~10 ms an image; a network
that must see millions of samples cannot wait for the renderer.  So:

    write_pool(out, num, size=160, crop_scale=0.8)   # `dlm synth --pool`: once, resumable
    pool = load_pool(out, "320")                       # memory-mapped, every set's labels
    pool = load_pools([out, other], "320")             # several pools drawn as one
    for batch in pool_batches(pool, seed, 32, 128):    # (seed, position) -> the same batch
        ...

Pool images are drawn like ordinary training renders but with the head at `crop_scale` of its
usual size and no photometric augmentation.  Each draw then takes its own crop (zoom, shift,
roll, horizontal flip with the landmark set's mirror permutation; the labels move with exactly
the same similarity transform as the pixels) and the photometric chain of `render.augment`
(colour, gamma, contrast, grayscale, blur, down-up sampling, noise, JPEG-like), all from the
key fold_in(key(seed), position).

Layout of a pool folder: image.npy (N, P, P, 3) uint8, landmarks.npy (N, Lall, 2) float32 pixels,
visible.npy (N, Lall) bool, pose.npy (N, 4, 3) joint rotations, meta.json (vertex ids of the
labelled landmarks: the union of every set, size, seed, crop_scale, render seconds, git revision).
"""
from __future__ import annotations

from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
import functools
import hashlib
import json
import os
import time
from typing import Iterator, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from scipy.spatial import cKDTree

from dlm.core import facemodel as fm
from dlm.io.files import write_json
from dlm.synth import augment as aug
from dlm.synth import render as synth
from dlm.synth.prefetch import prefetched

FORMAT = "dlm-render-pool/1"
FIELDS = ("image", "landmarks", "visible", "pose")


# ---------------------------------------------------------------------------------------------
# Writing.

def _open_arrays(folder: str, num: int, size: int, num_landmarks: int, mode: str) -> dict:
    shapes = dict(image=((num, size, size, 3), np.uint8), landmarks=((num, num_landmarks, 2), np.float32),
                  visible=((num, num_landmarks), np.bool_), pose=((num, 4, 3), np.float32))
    out = {}
    for name, (shape, dtype) in shapes.items():
        path = os.path.join(folder, f"{name}.npy")
        if mode == "w+":
            out[name] = np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=shape)
        else:
            out[name] = np.load(path, mmap_mode=mode)
            if out[name].shape != shape:
                raise ValueError(f"{path}: shape {out[name].shape}, expected {shape}")
    return out


def write_pool(out_dir, num: int, size: int = 160, seed: int = 0, crop_scale: float = 0.8, progress=None,
               git_revision: str | None = None, workers: int | None = None, env_prob: float = 0.0,
               grow_from: str | None = None, identity_sd: tuple[float, float] = (1.0, 1.0), **switches) -> dict:
    """Render `num` pool samples into out_dir (layout in the module docstring).

    Resumable: work goes into out_dir + ".partial" with a progress record written after every
    chunk; rerunning the same command continues there (a partial folder of other settings is an
    error), and the folder is renamed to out_dir only when complete.  Sample i is drawn from
    fold_in(key(seed), i) whatever the chunking, so a resumed pool equals an uninterrupted one.
    env_prob: the share of samples lit by (and in front of) a real environment map
    (`dlm.synth.render.make_assets`); 0 renders the pools made before the maps existed.
    identity_sd: (low, high) range of each head's identity standard deviation
    (`dlm.synth.render.Assets.identity_sd`); (1, 1), the model's prior, renders the pools made before it.
    switches: the renderer's realism switches by name (`dlm.synth.switches.REALISM_SWITCHES`:
    skin_detail=True, ...); the meta records those on.  grow_from: a complete pool of the same
    settings but fewer samples, whose samples are copied (they are this pool's first ones: sample i
    depends on seed and i alone) and not rendered again."""
    out_dir = os.path.abspath(out_dir)
    if os.path.exists(out_dir):
        raise FileExistsError(f"{out_dir}: exists; choose a new --out")
    if num < synth.WRITE_CHUNK or size < 32 or not 0.2 <= crop_scale <= 1.0:
        raise ValueError(f"need --num >= {synth.WRITE_CHUNK}, --size >= 32 and 0.2 <= crop_scale <= 1, got "
                         f"{num}, {size} and {crop_scale}")
    identity_sd = synth.check_identity_sd(identity_sd)
    model = fm.load_face_model()
    on = synth.realism_switches(**switches)
    assets = synth.make_assets(model, env_prob=env_prob, identity_sd=identity_sd, **on)
    vertex_ids = synth.landmark_vertex_ids(model, "all")
    ids = jnp.asarray(vertex_ids)
    partial = out_dir + ".partial"
    settings = dict(format=FORMAT, num=num, size=size, seed=seed, crop_scale=crop_scale,
                    vertex_ids=[int(v) for v in vertex_ids])
    if env_prob:   # recorded only when used: the settings of earlier pools stay what they were
        settings["env_prob"] = float(env_prob)
    if identity_sd != (1.0, 1.0):   # likewise
        settings["identity_sd"] = list(identity_sd)
    settings.update({name: True for name, v in on.items() if v})
    # Pools drawn by another version of the renderer hold other images for the same keys: never mixed.
    settings["renderer"] = synth.RENDERER_VERSION
    progress_path = os.path.join(partial, "progress.json")
    if os.path.isdir(partial):
        with open(progress_path) as f:
            state = json.load(f)
        if state["settings"] != settings:
            raise ValueError(f"{partial}: a partial pool with other settings; remove it or use its settings")
        arrays = _open_arrays(partial, num, size, len(vertex_ids), "r+")
    else:
        base = _grow_base(grow_from, settings) if grow_from else None
        os.makedirs(partial)
        state = dict(settings=settings, done=0, render_seconds=0.0)
        arrays = _open_arrays(partial, num, size, len(vertex_ids), "w+")
        if base is not None:
            meta, n = base
            old = _open_arrays(grow_from, n, size, len(vertex_ids), "r")
            for name, a in arrays.items():
                for i in range(0, n, 4096):
                    j = min(i + 4096, n)
                    a[i:j] = old[name][i:j]
                a.flush()
            state.update(done=n, render_seconds=float(meta["render_seconds"]), grown_from=os.path.abspath(grow_from))
        write_json(progress_path, state)
    chunk = synth.WRITE_CHUNK

    def render(first):
        b = synth.render_batch(synth.batch_keys(seed, first, chunk), model, assets, ids, size, augment=False,
                               crop_scale=crop_scale)
        return first, b

    # Render threads (XLA releases the GIL), results written strictly in order.
    workers = workers or max(1, min(4, os.cpu_count() or 1))
    last = time.perf_counter()
    with ThreadPoolExecutor(workers) as ex:
        firsts = range(state["done"], num, chunk)[:2 * workers]
        pending: deque = deque()
        if firsts:  # the first chunk renders on this thread, so the workers only run compiled code
            pending.append(Future())
            pending[0].set_result(render(firsts[0]))
        pending.extend(ex.submit(render, f) for f in firsts[1:])
        nxt = state["done"] + len(pending) * chunk
        while pending:
            first, b = pending.popleft().result()
            if nxt < num:
                pending.append(ex.submit(render, nxt))
                nxt += chunk
            n = min(chunk, num - first)
            arrays["image"][first:first + n] = synth.to_uint8(b.image)[:n]
            arrays["landmarks"][first:first + n] = np.asarray(b.landmarks, np.float32)[:n]
            arrays["visible"][first:first + n] = np.asarray(b.visible)[:n]
            arrays["pose"][first:first + n] = np.asarray(b.params.joint_rotations, np.float32)[:n]
            for a in arrays.values():
                a.flush()
            state["done"] = first + n
            now = time.perf_counter()
            state["render_seconds"] += now - last          # wall time, compilation included
            last = now
            write_json(progress_path, state)
            if progress:
                progress(state["done"], num)
    del arrays
    grown = {"grown_from": state["grown_from"]} if "grown_from" in state else {}
    meta = dict(settings, **grown, render_seconds=round(state["render_seconds"], 1), git_revision=git_revision,
                images_per_s=round(num / max(state["render_seconds"], 1e-9), 2),
                bytes=int(sum(os.path.getsize(os.path.join(partial, f"{k}.npy")) for k in FIELDS)))
    write_json(os.path.join(partial, "meta.json"), meta)
    os.remove(progress_path)
    os.replace(partial, out_dir)
    return dict(meta, out=out_dir, vertex_ids=len(vertex_ids))


def _grow_base(folder: str, settings: dict) -> tuple[dict, int]:
    """(meta, num) of a complete pool `folder` that a pool of `settings` can grow from."""
    path = os.path.join(folder, "meta.json")
    if not os.path.isfile(path):
        raise ValueError(f"{folder}: not a complete pool (no meta.json) to grow from")
    with open(path) as f:
        meta = json.load(f)
    keys = set(settings) | {k for k in meta if k not in ("grown_from", "render_seconds", "git_revision",
                                                          "images_per_s", "bytes")}
    differ = sorted(k for k in keys - {"num"} if meta.get(k) != settings.get(k))
    if differ:
        raise ValueError(f"{folder}: a pool of other settings ({', '.join(differ)}); cannot grow from it")
    if meta["num"] > settings["num"]:
        raise ValueError(f"{folder}: has {meta['num']} samples, more than the {settings['num']} asked for")
    return meta, int(meta["num"])


# ---------------------------------------------------------------------------------------------
# Reading.

class Pool(NamedTuple):
    image: np.ndarray        # (N, P, P, 3) uint8, memory-mapped
    landmarks: np.ndarray    # (N, L, 2) float32 pixels of the chosen set
    visible: np.ndarray      # (N, L) bool
    mirror: np.ndarray       # (L,) int: landmark i of a flipped image is landmark mirror[i] of the original
    landmark_set: str
    meta: dict
    pose: np.ndarray | None = None     # (N, 4, 3) joint rotations of each render
    draw: "DrawTable | None" = None    # how often each image is drawn; None: every image once an epoch


def mirror_permutation(model: fm.FaceModel, landmark_set: str, tolerance_cm: float = 0.05) -> np.ndarray:
    """(L,) the landmark each landmark becomes under x -> -x: the nearest landmark of the set to
    its mirrored template position.  An error if that is not a symmetric pairing (an involution
    with every pair within `tolerance_cm` of exact mirror images)."""
    pts = np.asarray(model.template)[synth.landmark_vertex_ids(model, landmark_set)]
    dist, perm = cKDTree(pts).query(pts * np.array([-1.0, 1.0, 1.0]))
    if not (perm[perm] == np.arange(len(perm))).all() or dist.max() > tolerance_cm:
        raise ValueError(f"landmark set {landmark_set!r} is not mirror-symmetric (largest gap {dist.max():.3f} cm)")
    return perm.astype(np.int32)


def load_pool(folder, landmark_set: str, model: fm.FaceModel | None = None) -> Pool:
    """A pool written by `write_pool`, labelled for `landmark_set` (picked by vertex id)."""
    folder = os.path.abspath(folder)
    meta_path = os.path.join(folder, "meta.json")
    if not os.path.isfile(meta_path):
        hint = " (an unfinished pool: rerun the command that writes it)" if os.path.isdir(folder + ".partial") else ""
        raise FileNotFoundError(f"{folder}: no meta.json, not a render pool written by `dlm synth --pool`{hint}")
    with open(meta_path) as f:
        meta = json.load(f)
    if meta.get("format") != FORMAT:
        raise ValueError(f"{meta_path}: format {meta.get('format')!r}, expected {FORMAT!r}")
    model = model or fm.load_face_model()
    arrays = _open_arrays(folder, meta["num"], meta["size"], len(meta["vertex_ids"]), "r")
    where = {v: i for i, v in enumerate(meta["vertex_ids"])}
    want = synth.landmark_vertex_ids(model, landmark_set)
    missing = [int(v) for v in want if int(v) not in where]
    if missing:
        raise ValueError(f"{folder}: lacks {len(missing)} landmarks of set {landmark_set!r}")
    cols = np.array([where[int(v)] for v in want])
    return Pool(arrays["image"], np.ascontiguousarray(arrays["landmarks"][:, cols]),
                np.ascontiguousarray(arrays["visible"][:, cols]), mirror_permutation(model, landmark_set),
                landmark_set, meta, arrays["pose"])



class StackedImages:
    """Several pools' memory-mapped (N_i, P, P, 3) image arrays read as one (sum N_i, P, P, 3),
    pool after pool, without copying them: a 96k and a 48k pool at 160 px are 11 GB together.
    Supports what pool draws use: len, shape, dtype, an integer index array, np.asarray."""

    def __init__(self, parts):
        if not parts or any(p.shape[1:] != parts[0].shape[1:] or p.dtype != parts[0].dtype for p in parts):
            raise ValueError("stacked image arrays must share their image shape and dtype")
        self.parts = list(parts)
        self.ends = np.cumsum([len(p) for p in parts])
        self.shape = (int(self.ends[-1]),) + tuple(parts[0].shape[1:])
        self.dtype = parts[0].dtype

    def __len__(self):
        return self.shape[0]

    def __getitem__(self, idx):
        idx = np.asarray(idx)
        if not np.issubdtype(idx.dtype, np.integer):
            raise TypeError(f"stacked images take integer indices, not {idx.dtype}")
        flat = idx.reshape(-1)
        if flat.size and (flat.min() < -len(self) or flat.max() >= len(self)):
            raise IndexError(f"index out of range for {len(self)} images")
        flat = np.where(flat < 0, flat + len(self), flat)
        part = np.searchsorted(self.ends, flat, side="right")
        starts = np.concatenate([[0], self.ends[:-1]])
        out = np.empty((flat.size,) + self.shape[1:], self.dtype)
        for k in np.unique(part):
            sel = part == k
            out[sel] = self.parts[k][flat[sel] - starts[k]]
        return out.reshape(idx.shape + self.shape[1:])

    def __array__(self, dtype=None, copy=None):
        out = np.concatenate([np.asarray(p) for p in self.parts])
        return out if dtype is None else out.astype(dtype)


def load_pools(folders, landmark_set: str, model: fm.FaceModel | None = None) -> Pool:
    """One pool drawn from several (`load_pool` each): their images one after another, so a
    campaign can add a newly rendered pool to the ones it trained on instead of replacing them.
    They must share the image size and crop scale (a draw's zoom depends on both) and differ in
    seed (sample i of a seed is the same head, pose and light in every pool of that seed).  A single
    folder (a str) is `load_pool`."""
    if isinstance(folders, (str, os.PathLike)):
        return load_pool(folders, landmark_set, model)
    folders = [os.path.abspath(f) for f in folders]
    if not folders:
        raise ValueError("no pools given")
    model = model or fm.load_face_model()
    pools = [load_pool(f, landmark_set, model) for f in folders]
    if len(pools) == 1:
        return pools[0]
    for f, p in zip(folders[1:], pools[1:]):
        for k in ("size", "crop_scale"):
            if p.meta.get(k) != pools[0].meta.get(k):
                raise ValueError(f"{f}: {k} {p.meta.get(k)}, but {folders[0]} has {pools[0].meta.get(k)}; "
                                 f"pools drawn together must share it")
    seeds = [p.meta.get("seed") for p in pools]
    for i, s in enumerate(seeds):
        if s in seeds[:i]:
            raise ValueError(f"{folders[i]} and {folders[seeds.index(s)]} share seed {s}: their samples are "
                             f"the same heads; draw from one of them")
    meta = dict(format=FORMAT, num=sum(p.meta["num"] for p in pools), size=pools[0].meta["size"],
                crop_scale=pools[0].meta["crop_scale"], seed=seeds,
                render_seconds=sum(float(p.meta.get("render_seconds", 0.0)) for p in pools),
                git_revision=[p.meta.get("git_revision") for p in pools],
                parts=[dict(folder=f, num=p.meta["num"], seed=p.meta.get("seed")) for f, p in zip(folders, pools)])
    pose = None if any(p.pose is None for p in pools) else np.concatenate([np.asarray(p.pose) for p in pools])
    return Pool(StackedImages([p.image for p in pools]), np.concatenate([p.landmarks for p in pools]),
                np.concatenate([p.visible for p in pools]), pools[0].mirror, landmark_set, meta, pose)


# ---------------------------------------------------------------------------------------------
# Augmentation at training time.

class CropRanges(NamedTuple):
    """The crop each draw takes from a pool image: zoom (the head's size in the output over its
    size in an ordinary render of that size, drawn log-uniformly), shift (of the output side),
    roll (degrees) and the chance of a mirror flip.  Other people in the background (issue 21):
    with distractor_prob a second pool face (the batch's previous draw) is pasted beside the head,
    its size distractor_scale times this one's, in a soft oval; this face's landmarks under it turn
    invisible (`paste_distractor`).  Things in front of the face (hands, microphones, cups, straps, a
    friend's shoulder): with occluder_prob an oval of another pool image's texture, its long axis
    occluder_size times this face's half side, lies over a random landmark; the landmarks under it
    turn invisible and keep their labels, so the network learns where covered landmarks are
    (`paste_occluder`).  Heads lying down or leaning far (a portrait on a pillow, a head on a
    shoulder): with roll_tail_prob the crop's roll is drawn within +-roll_tail_deg instead of
    +-roll_deg.  All off by default: the draws of every earlier run are unchanged."""
    zoom: tuple = (0.85, 1.15)
    shift: float = 0.05
    roll_deg: float = 12.0
    flip_prob: float = 0.5
    distractor_prob: float = 0.0
    distractor_scale: tuple = (0.35, 0.7)
    occluder_prob: float = 0.0
    occluder_size: tuple = (0.2, 0.55)
    roll_tail_prob: float = 0.0
    roll_tail_deg: float = 90.0


def _bilinear_uint8(image: jax.Array, px: jax.Array, py: jax.Array) -> jax.Array:
    """(P, P, 3) uint8 sampled at continuous pixel coordinates (pixel centres at integer + 0.5),
    edges clamped; float32 in [0, 1]."""
    p = image.shape[0]
    fx, fy = px - 0.5, py - 0.5
    x0, y0 = jnp.floor(fx), jnp.floor(fy)
    wx, wy = (fx - x0)[..., None], (fy - y0)[..., None]
    xi = [jnp.clip(x0 + d, 0, p - 1).astype(jnp.int32) for d in (0, 1)]
    yi = [jnp.clip(y0 + d, 0, p - 1).astype(jnp.int32) for d in (0, 1)]
    im = image.astype(jnp.float32) / 255.0
    top = im[yi[0], xi[0]] * (1 - wx) + im[yi[0], xi[1]] * wx
    bottom = im[yi[1], xi[0]] * (1 - wx) + im[yi[1], xi[1]] * wx
    return top * (1 - wy) + bottom * wy


# The pasted face's oval: its radius over half the larger side of its landmarks' box, and the
# feathered rim's share of that radius.
DISTRACTOR_RADIUS = 1.1
DISTRACTOR_FEATHER = 0.15


def paste_distractor(key: jax.Array, out: jax.Array, lm: jax.Array, vis: jax.Array, other: jax.Array,
                     other_landmarks: jax.Array, crops: CropRanges):
    """Another face in the background of a training sample.  out (S, S, 3) float32 in [0, 1] with
    this face's landmarks lm (L, 2) in output pixels and vis (L,); other (P, P, 3) uint8 a pool
    image with its landmarks (L, 2) in pool pixels.  With crops.distractor_prob, the other face is
    drawn at distractor_scale times this face's size (the larger sides of their landmark boxes), its
    centre at a random angle from this face's, as far out as both boxes' half sides reach together
    (so it may overlap this face's edge, or be cut by the border), inside an oval of
    DISTRACTOR_RADIUS half sides with a feathered rim.  Landmarks where the paste covers more than
    half return invisible.  Returns (out, vis)."""
    k_on, k_scale, k_angle = jax.random.split(key, 3)
    size = out.shape[0]
    on = jax.random.uniform(k_on) < crops.distractor_prob
    c_m, r_m = (lm.min(0) + lm.max(0)) / 2, jnp.max(lm.max(0) - lm.min(0)) / 2
    c_o = (other_landmarks.min(0) + other_landmarks.max(0)) / 2
    r_o = jnp.max(other_landmarks.max(0) - other_landmarks.min(0)) / 2
    s = jax.random.uniform(k_scale, (), minval=crops.distractor_scale[0], maxval=crops.distractor_scale[1]) * r_m / r_o
    theta = jax.random.uniform(k_angle, (), maxval=2 * np.pi)
    centre = c_m + (r_m + s * r_o) * jnp.stack([jnp.cos(theta), jnp.sin(theta)])
    g = jnp.arange(size, dtype=jnp.float32) + 0.5
    q = jnp.stack(jnp.broadcast_arrays(g[None, :], g[:, None]), -1)                 # (S, S, 2) x, y
    src = c_o + (q - centre) / s
    radius = DISTRACTOR_RADIUS * s * r_o                                           # output pixels

    def alpha_at(points):
        d = jnp.linalg.norm(points - centre, axis=-1) / radius
        return jnp.where(on, jnp.clip((1 - d) / DISTRACTOR_FEATHER, 0.0, 1.0), 0.0)

    a = alpha_at(q)[..., None]
    out = out * (1 - a) + _bilinear_uint8(other, src[..., 0], src[..., 1]) * a
    return out, vis & (alpha_at(lm) <= 0.5)


# The occluder's outline: its short axis over its long one (fingers and straps are thin, palms and
# cups round), the feathered rim's share of the radius (objects in front are mostly in focus), and
# the range of its shading, a linear ramp across it (a lit side and a shaded side, as a rounded
# object has), as gains on its texture.
OCCLUDER_ASPECT = (0.25, 1.0)
OCCLUDER_FEATHER = 0.08
OCCLUDER_SHADE = (0.7, 1.1)


def paste_occluder(key: jax.Array, out: jax.Array, lm: jax.Array, vis: jax.Array, other: jax.Array,
                   other_landmarks: jax.Array, crops: CropRanges):
    """Something in front of the face of a training sample.  out (S, S, 3) float32 in [0, 1] with
    this face's landmarks lm (L, 2) in output pixels and vis (L,); other (P, P, 3) uint8 a pool
    image with its landmarks (L, 2) in pool pixels.  With crops.occluder_prob, an oval (long axis
    occluder_size times this face's half side, short axis OCCLUDER_ASPECT of that, turned at random)
    is centred on one of this face's landmarks drawn at random.  Its texture is the other image at
    its own scale (an object of that image's size), read about one of the other image's landmarks
    (skin, hair, clothes: a hand or a sleeve) or about a random point (background: an object),
    turned at random, shaded by a ramp across the oval (OCCLUDER_SHADE) and feathered at the rim.
    Landmarks where the paste covers more than half turn invisible; labels do not move.  Returns
    (out, vis)."""
    k_on, k_size, k_aspect, k_turn, k_at, k_src, k_where, k_point, k_tex, k_shade = jax.random.split(key, 10)
    size, p = out.shape[0], other.shape[0]
    on = jax.random.uniform(k_on) < crops.occluder_prob
    r_m = jnp.max(lm.max(0) - lm.min(0)) / 2
    a = jax.random.uniform(k_size, (), minval=crops.occluder_size[0], maxval=crops.occluder_size[1]) * r_m
    b = a * jax.random.uniform(k_aspect, (), minval=OCCLUDER_ASPECT[0], maxval=OCCLUDER_ASPECT[1])
    phi = jax.random.uniform(k_turn, (), maxval=np.pi)
    centre = lm[jax.random.randint(k_at, (), 0, lm.shape[0])]
    axes = jnp.array([[jnp.cos(phi), jnp.sin(phi)], [-jnp.sin(phi), jnp.cos(phi)]])   # rows: long, short axis
    g = jnp.arange(size, dtype=jnp.float32) + 0.5
    q = jnp.stack(jnp.broadcast_arrays(g[None, :], g[:, None]), -1)                   # (S, S, 2) x, y

    def alpha_at(points):
        u = (points - centre) @ axes.T                                                 # along long, short
        d = jnp.sqrt((u[..., 0] / a) ** 2 + (u[..., 1] / b) ** 2)
        return jnp.where(on, jnp.clip((1 - d) / OCCLUDER_FEATHER, 0.0, 1.0), 0.0)

    on_landmark = jax.random.uniform(k_where) < 0.5
    src_c = jnp.where(on_landmark, other_landmarks[jax.random.randint(k_src, (), 0, other_landmarks.shape[0])],
                      jax.random.uniform(k_point, (2,), minval=0.1 * p, maxval=0.9 * p))
    t = jax.random.uniform(k_tex, (), maxval=2 * np.pi)
    turn = jnp.array([[jnp.cos(t), -jnp.sin(t)], [jnp.sin(t), jnp.cos(t)]])
    src = src_c + (q - centre) @ turn.T * (p / size)
    ramp = ((q - centre) @ axes[0]) / a                                               # -1 .. 1 along the long axis
    lo, hi = OCCLUDER_SHADE
    shade = (lo + hi) / 2 + (hi - lo) / 2 * jnp.clip(ramp * jnp.sign(jax.random.uniform(k_shade) - 0.5), -1, 1)
    tex = jnp.clip(_bilinear_uint8(other, src[..., 0], src[..., 1]) * shade[..., None], 0.0, 1.0)
    alpha = alpha_at(q)[..., None]
    out = out * (1 - alpha) + tex * alpha
    return out, vis & (alpha_at(lm) <= 0.5)


def augment_sample(key: jax.Array, image: jax.Array, landmarks: jax.Array, visible: jax.Array,
                   mirror: jax.Array, size: int, base_zoom: float, crops: CropRanges = CropRanges(),
                   photometric: aug.AugmentRanges | None = aug.AugmentRanges(),
                   other: jax.Array | None = None, other_landmarks: jax.Array | None = None):
    """One pool sample -> a training sample of `size` pixels.

    image (P, P, 3) uint8; landmarks (L, 2) pool pixels; visible (L,) bool; mirror (L,) int.
    base_zoom: output pixels per pool pixel at zoom 1, size / (P * crop_scale).
    Returns image (S, S, 3) float32 in [0, 1], landmarks (L, 2) output pixels, visible (L,) (also
    false where the crop cut a landmark off).  An output pixel q maps to the pool point
    c_P + t + R (q - c_S) / z, so a label p maps to c_S + z R^T (p - c_P - t): labels and pixels
    move with the same similarity transform.  other, other_landmarks: another pool image and its
    landmarks, for crops.distractor_prob and crops.occluder_prob (`paste_distractor`,
    `paste_occluder`, before the photometric chain so that everything shares the camera)."""
    k_zoom, k_shift, k_roll, k_flip, k_photo = jax.random.split(key, 5)
    p = image.shape[0]
    lo, hi = np.log(crops.zoom[0]), np.log(crops.zoom[1])
    z = jnp.exp(jax.random.uniform(k_zoom, (), minval=lo, maxval=hi)) * base_zoom
    t = jax.random.uniform(k_shift, (2,), minval=-crops.shift, maxval=crops.shift) * size / z
    a = jax.random.uniform(k_roll, (), minval=-1.0, maxval=1.0) * np.radians(crops.roll_deg)
    if crops.roll_tail_prob > 0:    # its own key: the draws of runs without it stay as they were
        k_tail, k_tail_roll = jax.random.split(jax.random.fold_in(key, 3))
        tail = jax.random.uniform(k_tail_roll, (), minval=-1.0, maxval=1.0) * np.radians(crops.roll_tail_deg)
        a = jnp.where(jax.random.uniform(k_tail) < crops.roll_tail_prob, tail, a)
    flip = jax.random.uniform(k_flip) < crops.flip_prob
    rot = jnp.array([[jnp.cos(a), -jnp.sin(a)], [jnp.sin(a), jnp.cos(a)]])
    g = jnp.arange(size, dtype=jnp.float32) + 0.5
    qx = jnp.where(flip, size - g, g)           # a flipped output reads its column from the mirror side
    q = jnp.stack(jnp.broadcast_arrays(qx[None, :], g[:, None]), -1) - size / 2     # (S, S, 2)
    src = p / 2 + t + jnp.einsum("ij,hwj->hwi", rot, q) / z
    out = _bilinear_uint8(image, src[..., 0], src[..., 1])
    lm = size / 2 + z * (landmarks - p / 2 - t) @ rot          # row vectors: (p - c) R == R^T (p - c)
    lm_flipped = jnp.stack([size - lm[:, 0], lm[:, 1]], -1)[mirror]
    lm = jnp.where(flip, lm_flipped, lm)
    vis = jnp.where(flip, visible[mirror], visible)
    vis = vis & jnp.all((lm >= 0) & (lm <= size), -1)
    if crops.distractor_prob > 0:   # its own key, so the draws above stay those of runs without it
        out, vis = paste_distractor(jax.random.fold_in(key, 1), out, lm, vis, other, other_landmarks, crops)
    if crops.occluder_prob > 0:     # its own key too, after the background face (which it may cover)
        out, vis = paste_occluder(jax.random.fold_in(key, 2), out, lm, vis, other, other_landmarks, crops)
    if photometric is not None:
        out = aug.augment(k_photo, out, photometric)
    return out, lm, vis


@functools.partial(jax.jit, static_argnames=("size", "base_zoom", "crops", "photometric", "vectorize"))
def augment_batch(keys, images, landmarks, visible, mirror, size: int, base_zoom: float,
                  crops: CropRanges = CropRanges(),
                  photometric: aug.AugmentRanges | None = aug.AugmentRanges(), vectorize: bool | None = None):
    """`augment_sample` over a batch (B,); images come back as uint8.  vectorize: vmap (right on
    an accelerator, where a sequential loop launches every step's kernels once per sample) or
    lax.map (on a CPU each sample then pays only for the photometric steps it drew); by default
    vmap unless the default backend is a CPU.  The same draws either way."""
    if vectorize is None:
        vectorize = jax.default_backend() != "cpu"
    def fn(key, image, lms, vis, other=None, other_lms=None):
        return augment_sample(key, image, lms, vis, mirror, size, base_zoom, crops, photometric, other, other_lms)
    args = (keys, images, landmarks, visible)
    if crops.distractor_prob > 0 or crops.occluder_prob > 0:   # each draw's other image: the batch's previous draw
        args += (jnp.roll(images, 1, 0), jnp.roll(landmarks, 1, 0))
    if vectorize:
        img, lm, vis = jax.vmap(fn)(*args)
    else:
        img, lm, vis = jax.lax.map(lambda a: fn(*a), args)
    return jnp.round(jnp.clip(img, 0.0, 1.0) * 255).astype(jnp.uint8), lm, vis


class DrawTable:
    """The probability of drawing each pool image (N,), hashable by content (orders are cached)."""

    def __init__(self, p: np.ndarray):
        p = np.asarray(p, np.float64)
        if p.ndim != 1 or not np.all(np.isfinite(p)) or np.any(p < 0) or p.sum() <= 0:
            raise ValueError("draw probabilities must be finite, non-negative and not all zero")
        self.p = p / p.sum()
        self._digest = hashlib.sha256(self.p.tobytes()).hexdigest()

    def __hash__(self):
        return hash(self._digest)

    def __eq__(self, other):
        return isinstance(other, DrawTable) and other._digest == self._digest


@functools.lru_cache(maxsize=4)
def epoch_order(seed: int, n: int, epoch: int, draw: DrawTable | None = None) -> np.ndarray:
    """(n,) the pool indices of draws epoch * n ... (epoch + 1) * n - 1 of a stream of this seed:
    a permutation, or with `draw`, n independent draws by its probabilities."""
    key = jax.random.fold_in(jax.random.key(seed), epoch)
    if draw is None:
        return np.asarray(jax.random.permutation(key, n))
    if len(draw.p) != n:
        raise ValueError(f"draw table of {len(draw.p)} images for a pool of {n}")
    # Inverse CDF in float64 on the host: jax.random.choice would sum 96k float32 probabilities.
    u = np.asarray(jax.random.uniform(key, (n,), jnp.float32), np.float64)
    return np.minimum(np.searchsorted(np.cumsum(draw.p), u, side="right"), n - 1)


class PosePrior(NamedTuple):
    """Head pitch and roll as photographs have them: draws follow, in a share 1 - keep, zero-mean
    Gaussians of these standard deviations (degrees) and in a share `keep` the pool's own
    distribution (its tails: extreme poses stay in training, less often).  Yaw is not reweighted
    (benchmarks balance it).  AFLW2000-3D's dev photos: |pitch| median 10.8, 75th percentile 20.6
    degrees; |roll| 9.5, 19.7; a half-normal's median is 0.674 sd (pitch 16, roll 14 degrees)."""
    pitch_sd_deg: float = 16.0
    roll_sd_deg: float = 14.0
    keep: float = 0.25
    bins: int = 24            # per axis, for the pool's own density
    max_ratio: float = 20.0   # of target over pool density: a sparse bin cannot take over


def head_pitch_roll(pose: np.ndarray) -> np.ndarray:
    """(N, 2) degrees: the head's pitch and roll as drawn (`scenes.sample_pose`: neck plus head
    joint, each an axis-angle vector (pitch, yaw, roll))."""
    pose = np.asarray(pose, np.float64)
    return np.degrees(np.stack([pose[:, 0, 0] + pose[:, 1, 0], pose[:, 0, 2] + pose[:, 1, 2]], 1))


def pose_draw_table(pose: np.ndarray, prior: PosePrior) -> DrawTable:
    """Importance weights that turn the pool's pitch / roll distribution into the prior's mixture:
    p_i = keep + (1 - keep) t(x_i) / q(x_i), q the pool's density (a 2-D histogram), t the prior's."""
    x = head_pitch_roll(pose)
    lo, hi = x.min(0) - 1e-6, x.max(0) + 1e-6
    hist, e0, e1 = np.histogram2d(x[:, 0], x[:, 1], bins=prior.bins, range=[(lo[0], hi[0]), (lo[1], hi[1])],
                                  density=True)
    i = np.clip(np.searchsorted(e0, x[:, 0], side="right") - 1, 0, prior.bins - 1)
    j = np.clip(np.searchsorted(e1, x[:, 1], side="right") - 1, 0, prior.bins - 1)
    q = hist[i, j]
    sd = np.array([prior.pitch_sd_deg, prior.roll_sd_deg])
    t = np.prod(np.exp(-0.5 * (x / sd) ** 2) / (np.sqrt(2 * np.pi) * sd), 1)
    ratio = np.minimum(t / np.maximum(q, 1e-12), prior.max_ratio)
    return DrawTable(prior.keep + (1.0 - prior.keep) * ratio)


def with_pose_prior(pool: Pool, prior: PosePrior | None) -> Pool:
    """The pool drawn by `prior` (`pose_draw_table`); None: uniformly."""
    if prior is None:
        return pool._replace(draw=None)
    if pool.pose is None:
        raise ValueError("the pool has no poses to reweight")
    return pool._replace(draw=pose_draw_table(pool.pose, prior))


class DevicePool(NamedTuple):
    """A pool's arrays in device memory (`to_device`), for draws inside a compiled training step."""
    image: jax.Array         # (N, P, P, 3) uint8
    landmarks: jax.Array     # (N, L, 2) float32
    visible: jax.Array       # (N, L) bool
    mirror: jax.Array        # (L,) int32


def to_device(pool: Pool) -> DevicePool:
    """Copy a pool into device memory (a 96k-image pool at 160 px is 7.4 GB)."""
    return DevicePool(*(jnp.asarray(np.asarray(a)) for a in (pool.image, pool.landmarks, pool.visible, pool.mirror)))


def pool_batch(pool: Pool, seed: int, start: int, batch_size: int, size: int, crops: CropRanges = CropRanges(),
               photometric: aug.AugmentRanges | None = aug.AugmentRanges()) -> dict:
    """Draws start .. start + B - 1: image uint8 (B, S, S, 3), landmarks (B, L, 2), visible (B, L),
    index (B,) pool indices.  A function of (seed, start) only (the augmentation key of draw i is
    fold_in(key(seed + 1), i), apart from the order's)."""
    n = len(pool.image)
    pos = np.arange(start, start + batch_size)
    idx = np.array([epoch_order(seed, n, int(p) // n, pool.draw)[int(p) % n] for p in pos])
    order = np.argsort(idx)                      # sorted reads from the memory map
    images = np.empty((batch_size,) + pool.image.shape[1:], np.uint8)
    images[order] = pool.image[idx[order]]
    keys = synth.batch_keys(seed + 1, start, batch_size)
    base_zoom = size / (pool.image.shape[1] * pool.meta["crop_scale"])
    img, lm, vis = augment_batch(keys, images, pool.landmarks[idx], pool.visible[idx], jnp.asarray(pool.mirror),
                                 size, base_zoom, crops, photometric)
    return dict(image=np.asarray(img), landmarks=np.asarray(lm), visible=np.asarray(vis), index=idx)


def pool_batches(pool: Pool, seed: int, batch_size: int, size: int, start: int = 0, prefetch: int = 2,
                 crops: CropRanges = CropRanges(),
                 photometric: aug.AugmentRanges | None = aug.AugmentRanges()) -> Iterator[dict]:
    """An endless stream of `pool_batch`es, batch j holding draws start + j*B ...; one background
    thread prepares the next `prefetch` batches while the caller trains (XLA releases the GIL)."""
    if batch_size > len(pool.image):
        raise ValueError(f"batch size {batch_size} is larger than the pool ({len(pool.image)} images)")
    return prefetched(lambda j: pool_batch(pool, seed, start + j * batch_size, batch_size, size, crops, photometric),
                      prefetch, name="pool-batches")
