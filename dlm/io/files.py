"""Atomic file output: everything dlm writes goes to a temporary name first, then is renamed."""
from __future__ import annotations

import io
import json
import os
import tempfile
import zipfile
from contextlib import contextmanager

import numpy as np


@contextmanager
def atomic_path(path: str | os.PathLike):
    """Yield a temporary path in the same folder; rename it onto `path` only on success."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    suffix = os.path.splitext(path)[1]
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=suffix, dir=folder)
    os.close(fd)
    # mkstemp creates 0600; give the result the permissions an ordinary open() would.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_text(path, text: str) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "w") as f:
            f.write(text)


def write_json(path, obj) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def write_obj(path, vertices: np.ndarray, faces: np.ndarray, uvs: np.ndarray | None = None,
              face_uvs: np.ndarray | None = None, header: str = "") -> None:
    """Wavefront OBJ with triangles (1-based indices) and optional per-corner UVs."""
    vertices = np.asarray(vertices, np.float64)
    faces = np.asarray(faces, np.int64)
    if vertices.ndim != 2 or vertices.shape[1] != 3 or not np.isfinite(vertices).all():
        raise ValueError(f"write_obj: vertices must be finite (V, 3), got shape {vertices.shape}")
    if faces.ndim != 2 or faces.shape[1] != 3 or faces.min() < 0 or faces.max() >= len(vertices):
        raise ValueError(f"write_obj: faces must be (F, 3) indices into {len(vertices)} vertices")
    lines = [f"# {line}" for line in header.splitlines()]
    lines += [f"v {x:.5f} {y:.5f} {z:.5f}" for x, y, z in vertices]
    if uvs is not None and face_uvs is not None:
        lines += [f"vt {u:.6f} {v:.6f}" for u, v in np.asarray(uvs)]
        fu = np.asarray(face_uvs, np.int64) + 1
        f1 = faces + 1
        lines += [f"f {a}/{ta} {b}/{tb} {c}/{tc}" for (a, b, c), (ta, tb, tc) in zip(f1, fu)]
    else:
        lines += [f"f {a} {b} {c}" for a, b, c in faces + 1]
    write_text(path, "\n".join(lines) + "\n")


def write_npz_deterministic(path, arrays: dict, compresslevel: int | None = None) -> None:
    """A compressed .npz with fixed zip timestamps and sorted names, written atomically,
    so the same arrays always give byte-identical files (no pickle)."""
    with atomic_path(path) as tmp:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for name in sorted(arrays):
                buf = io.BytesIO()
                np.lib.format.write_array(buf, np.asarray(arrays[name]), allow_pickle=False)
                info = zipfile.ZipInfo(name + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, buf.getvalue(), compresslevel=compresslevel)
