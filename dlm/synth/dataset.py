"""Rendered datasets on disk (`dlm synth`): PNG images and masks with every label in labels.npz,
loaded into memory and walked in seeded epoch orders (several networks trained on the same
images).  The render pool for training at scale is `dlm.synth.pool`."""
from __future__ import annotations

import os
import shutil
import tempfile
from typing import Iterator

import cv2
import jax
import jax.numpy as jnp
import numpy as np

from dlm.core import facemodel as fm
from dlm.io.files import write_npz_deterministic
from dlm.synth import shading as rs
from dlm.synth.render import WRITE_CHUNK, batch_keys, landmark_vertex_ids, make_assets, render_batch, to_uint8


def write_dataset(out_dir, num: int, size: int, seed: int, landmark_set: str = "703", progress=None,
                  augment: bool = True) -> dict:
    """Render `num` samples into out_dir/{images,masks}/NNNNNN.png and out_dir/labels.npz.

    Everything is written into a temporary folder next to out_dir and renamed at the end,
    so an interrupted run leaves no half-written dataset.  out_dir must not exist or be empty.
    """
    out_dir = os.path.abspath(out_dir)
    if os.path.exists(out_dir) and (not os.path.isdir(out_dir) or os.listdir(out_dir)):
        raise FileExistsError(f"{out_dir}: exists and is not an empty folder; choose a new --out")
    if num < 1 or size < 32:
        raise ValueError(f"need --num >= 1 and --size >= 32, got {num} and {size}")
    model = fm.load_face_model()
    assets = make_assets(model)
    vertex_ids = landmark_vertex_ids(model, landmark_set)
    ids = jnp.asarray(vertex_ids)
    parent = os.path.dirname(out_dir)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".synth-", dir=parent)
    fields = ("landmarks", "visible", "identity", "expression", "joint_rotations", "translation", "camera_rotation",
              "camera_translation", "focal", "principal_point")
    acc = {f: [] for f in fields}
    try:
        os.makedirs(os.path.join(tmp, "images"))
        os.makedirs(os.path.join(tmp, "masks"))
        for first in range(0, num, WRITE_CHUNK):
            b = render_batch(batch_keys(seed, first, WRITE_CHUNK), model, assets, ids, size, augment)
            images, masks = to_uint8(b.image), np.asarray(b.mask).astype(np.uint8)
            n = min(WRITE_CHUNK, num - first)
            for i in range(n):
                cv2.imwrite(os.path.join(tmp, "images", f"{first + i:06d}.png"), images[i][..., ::-1])
                cv2.imwrite(os.path.join(tmp, "masks", f"{first + i:06d}.png"), masks[i])
            vals = dict(landmarks=b.landmarks, visible=b.visible, identity=b.params.identity,
                        expression=b.params.expression, joint_rotations=b.params.joint_rotations,
                        translation=b.params.translation, camera_rotation=b.camera.rotation,
                        camera_translation=b.camera.translation, focal=b.camera.focal,
                        principal_point=b.camera.principal_point)
            for f in fields:
                acc[f].append(np.asarray(vals[f])[:n])
            if progress:
                progress(first + n, num)
        arrays = {f: np.concatenate(v) for f, v in acc.items()}
        arrays["landmarks"] = arrays["landmarks"].astype(np.float32)
        write_npz_deterministic(os.path.join(tmp, "labels.npz"), dict(
            arrays, landmark_set=np.array(landmark_set), vertex_ids=np.asarray(vertex_ids, np.int32),
            seed=np.array(seed),
            pixel_convention=np.array("x right, y down, pixel centres at integer + 0.5"),
            region_names=np.array(rs.REGION_NAMES)))
        if os.path.isdir(out_dir):
            os.rmdir(out_dir)
        os.replace(tmp, out_dir)
    finally:
        if os.path.exists(tmp):
            shutil.rmtree(tmp)
    return dict(out=out_dir, num=num, size=size, seed=seed, landmark_set=landmark_set, augment=augment)


def load_dataset(folder, landmark_set: str, model: fm.FaceModel | None = None) -> dict:
    """A dataset written by `write_dataset` (`dlm synth`), in memory, labelled for `landmark_set`:
    image (N, S, S, 3) uint8 RGB, landmarks (N, L, 2) float32, visible (N, L) bool.  The set's
    landmarks are picked out of the rendered ones by vertex id, so a dataset rendered with "all"
    serves every set; a set the dataset lacks is an error naming both."""
    folder = os.path.abspath(folder)
    labels_path = os.path.join(folder, "labels.npz")
    if not os.path.isfile(labels_path):
        raise FileNotFoundError(f"{folder}: no labels.npz (not a dataset written by `dlm synth`)")
    model = model or fm.load_face_model()
    with np.load(labels_path) as z:
        rendered = str(z["landmark_set"])
        have = z["vertex_ids"] if "vertex_ids" in z.files else landmark_vertex_ids(model, rendered)
        landmarks, visible = z["landmarks"], z["visible"]
    want = landmark_vertex_ids(model, landmark_set)
    where = {int(v): i for i, v in enumerate(have)}
    missing = [int(v) for v in want if int(v) not in where]
    if missing:
        raise ValueError(f"{labels_path}: rendered with landmark set {rendered!r}, which lacks {len(missing)} "
                         f"landmarks of set {landmark_set!r}; render it with --landmarks {landmark_set} or all")
    cols = np.array([where[int(v)] for v in want])
    n = len(landmarks)
    images = None
    for i in range(n):
        path = os.path.join(folder, "images", f"{i:06d}.png")
        im = cv2.imread(path, cv2.IMREAD_COLOR)
        if im is None:
            raise FileNotFoundError(f"{path}: missing or unreadable ({n} samples in labels.npz)")
        if images is None:
            images = np.empty((n,) + im.shape, np.uint8)
        if im.shape != images.shape[1:]:
            raise ValueError(f"{path}: shape {im.shape}, the first image's is {images.shape[1:]}")
        images[i] = im[..., ::-1]
    return dict(image=images, landmarks=np.ascontiguousarray(landmarks[:, cols], np.float32),
                visible=np.ascontiguousarray(visible[:, cols]))


def dataset_batches(data: dict, seed: int, batch_size: int, start: int = 0) -> Iterator[dict]:
    """An endless deterministic stream of batches drawn from a loaded dataset (`load_dataset`):
    epoch e visits every sample once in the order permutation(fold_in(key(seed), e)); batch j
    holds positions start + j*B ... of that sequence, so a run resumed at step j sees the same
    batches.  Each batch is {image, landmarks, visible, index}."""
    n = len(data["image"])
    if batch_size > n:
        raise ValueError(f"batch size {batch_size} is larger than the dataset ({n} samples)")
    base = jax.random.key(seed)
    orders: dict = {}

    def order(epoch):
        if epoch not in orders:
            orders.clear()
            orders[epoch] = np.asarray(jax.random.permutation(jax.random.fold_in(base, epoch), n))
        return orders[epoch]

    pos = start
    while True:
        idx = np.array([order(p // n)[p % n] for p in range(pos, pos + batch_size)])
        pos += batch_size
        yield dict(image=data["image"][idx], landmarks=data["landmarks"][idx], visible=data["visible"][idx],
                   index=idx)
