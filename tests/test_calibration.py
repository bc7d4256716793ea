import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dlm.core import facemodel as fm
from dlm.fitting.calibration import CalibrationError, load_calibration, save_calibration


def test_round_trip(tmp_path):
    cams = fm.Camera(jnp.array([[0.0, 0.3, 0.0], [0.1, -0.2, 0.05]]), jnp.array([[1.0, 2, -50], [0, 0, -60]]),
                     jnp.array([800.0, 900.0]), jnp.array([[320.0, 240], [330, 250]]))
    path = tmp_path / "calib.json"
    save_calibration(path, cams, [[640, 480], [640, 480]], ["a", "b"])
    got, sizes, names = load_calibration(path, expected_cameras=2)
    assert names == ["a", "b"] and sizes.tolist() == [[640, 480], [640, 480]]
    for a, b in zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(cams)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-5)


def test_opencv_convention(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"convention": "opencv", "cameras": [
        {"rotation": np.eye(3).tolist(), "translation": [0, 0, 50], "focal": 500, "image_size": [100, 100]}]}))
    cam, _, _ = load_calibration(path)
    # An OpenCV camera at the origin looking along +z is a dlm camera rotated 180 degrees about x.
    p = fm.project_points(fm.Camera(cam.rotation[0], cam.translation[0], cam.focal[0], cam.principal_point[0]),
                          jnp.array([[1.0, 2.0, 0.0]]))
    np.testing.assert_allclose(np.asarray(p), [[50 + 10, 50 + 20]], atol=1e-3)  # OpenCV: u = cx + f x / z


@pytest.mark.parametrize("content, message", [
    ("not json", "not valid JSON"),
    ('{"cameras": []}', "at least one camera"),
    ('{"cameras": [{"rotation": [0, 0, 0], "translation": [0, 0, 0], "image_size": [10, 10]}]}', "missing field"),
    ('{"cameras": [{"rotation": [[1, 0, 0], [0, 1, 0], [0, 0, 2]], "translation": [0, 0, 0], "focal": 1, '
     '"image_size": [10, 10]}]}', "rotation"),
    ('{"cameras": [{"rotation": [0, 0, 0], "translation": [0, 0], "focal": 1, "image_size": [10, 10]}]}',
     "translation"),
])
def test_bad_files(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(CalibrationError, match=message):
        load_calibration(path)


def test_wrong_camera_count(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"cameras": [
        {"rotation": [0, 0, 0], "translation": [0, 0, -50], "focal": 500, "image_size": [100, 100]}]}))
    with pytest.raises(CalibrationError, match="has 1 cameras but 3 camera folders"):
        load_calibration(path, expected_cameras=3)
    with pytest.raises(CalibrationError, match="not found"):
        load_calibration(tmp_path / "nope.json")
