"""Camera calibration files for multi-view fitting.

Format (JSON), one entry per camera, in the order of the camera folders:

    {"cameras": [
        {"name": "cam0", "image_size": [W, H], "focal": f, "principal_point": [cx, cy],
         "rotation": [[...], [...], [...]] or [rx, ry, rz], "translation": [tx, ty, tz]},
        ...]}

rotation and translation map world points to camera space, x_cam = R x + t, in dlm's
convention (camera looks along -z, y up; see dlm.core.geometry); translation in cm,
focal and principal point in pixels.  An OpenCV calibration (camera looks along +z,
y down) converts by negating the second and third rows of R and of t:
use "convention": "opencv" in the file to have that done on load.
"""
from __future__ import annotations

import json

import jax.numpy as jnp
import numpy as np

from dlm.core import facemodel as fm
from dlm.core import geometry
from dlm.io.files import write_json


class CalibrationError(ValueError):
    pass


def load_calibration(path, expected_cameras: int | None = None) -> tuple[fm.Camera, np.ndarray, list]:
    """Read a calibration file. Returns (cameras batched over C, image sizes (C, 2), names)."""
    try:
        with open(path) as f:
            data = json.load(f)
    except FileNotFoundError:
        raise CalibrationError(f"{path}: calibration file not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CalibrationError(f"{path}: not valid JSON ({e})") from None
    cams = data.get("cameras") if isinstance(data, dict) else None
    if not isinstance(cams, list) or not cams:
        raise CalibrationError(f"{path}: expected {{\"cameras\": [...]}} with at least one camera")
    if expected_cameras is not None and len(cams) != expected_cameras:
        raise CalibrationError(f"{path}: has {len(cams)} cameras but {expected_cameras} camera folders were given")
    opencv = data.get("convention", "dlm") == "opencv"
    flip = np.diag([1.0, -1.0, -1.0])
    rots, trans, focal, pp, sizes, names = [], [], [], [], [], []
    for i, c in enumerate(cams):
        where = f"{path}: camera {i}"
        try:
            r = np.asarray(c["rotation"], np.float64)
            t = np.asarray(c["translation"], np.float64)
            f_ = float(c["focal"])
            size = np.asarray(c["image_size"], np.float64)
            p = np.asarray(c.get("principal_point", size / 2.0), np.float64)
        except KeyError as e:
            raise CalibrationError(f"{where}: missing field {e}") from None
        except (TypeError, ValueError) as e:
            raise CalibrationError(f"{where}: bad value ({e})") from None
        if r.shape == (3,):
            r = np.asarray(geometry.axis_angle_to_matrix(jnp.asarray(r, jnp.float32)), np.float64)
        if r.shape != (3, 3) or abs(np.linalg.det(r) - 1) > 1e-3 or np.abs(r @ r.T - np.eye(3)).max() > 1e-3:
            raise CalibrationError(f"{where}: rotation must be a 3x3 rotation matrix or an axis-angle 3-vector")
        if t.shape != (3,) or size.shape != (2,) or p.shape != (2,) or not (f_ > 0) or (size <= 0).any():
            raise CalibrationError(f"{where}: need translation (3,), image_size (2,) > 0, principal_point (2,), focal > 0")
        if opencv:
            r, t = flip @ r, flip @ t
        rots.append(np.asarray(geometry.matrix_to_axis_angle(jnp.asarray(r, jnp.float32))))
        trans.append(t)
        focal.append(f_)
        pp.append(p)
        sizes.append(size)
        names.append(str(c.get("name", f"cam{i}")))
    cam = fm.Camera(jnp.asarray(np.stack(rots), jnp.float32), jnp.asarray(np.stack(trans), jnp.float32),
                    jnp.asarray(focal, jnp.float32), jnp.asarray(np.stack(pp), jnp.float32))
    return cam, np.stack(sizes), names


def save_calibration(path, cameras: fm.Camera, image_sizes, names=None) -> None:
    n = len(np.asarray(cameras.focal))
    out = []
    for i in range(n):
        out.append(dict(name=names[i] if names else f"cam{i}", image_size=np.asarray(image_sizes)[i].tolist(),
                        focal=float(np.asarray(cameras.focal)[i]),
                        principal_point=np.asarray(cameras.principal_point)[i].tolist(),
                        rotation=np.asarray(cameras.rotation)[i].tolist(),
                        translation=np.asarray(cameras.translation)[i].tolist()))
    write_json(path, dict(convention="dlm", cameras=out))
