"""The product as library calls (dlm.product.capture, .batch, .photos): what they check before
any network runs.  The fits themselves run end to end in test_product_e2e.py through the
commands, which are these functions with progress lines around them."""
import numpy as np
import pytest

import dlm
from dlm.io import images as imageio
from dlm.product import capture as cap
from dlm.product import outputs
from dlm.product.batch import reconstruct_batch
from dlm.product.photos import reconstruct_photos


def _frames(folder, n):
    folder.mkdir()
    for i in range(n):
        imageio.write_image(folder / f"{i:03d}.png", np.full((8, 8, 3), 10 * i, np.uint8))


def test_camera_folders_are_checked_and_cut_to_the_same_frames(tmp_path):
    a, b, empty = tmp_path / "a", tmp_path / "b", tmp_path / "empty"
    _frames(a, 3)
    _frames(b, 2)
    _frames(empty, 0)
    with pytest.raises(cap.CaptureError, match="different frame counts: .*a: 3, .*b: 2"):
        cap.camera_frames([a, b])
    with pytest.raises(cap.CaptureError, match="empty: no image files"):
        cap.camera_frames([a, empty])
    with pytest.raises(cap.CaptureError, match="nope: not a folder"):
        cap.camera_frames([a, tmp_path / "nope"])
    with pytest.raises(cap.CaptureError, match="no camera folders"):
        cap.camera_frames([])
    frames = cap.camera_frames([a, a], max_frames=2)
    assert frames == [[a / "000.png", a / "001.png"]] * 2
    assert [p.name for p in cap.camera_frames([a])[0]] == ["000.png", "001.png", "002.png"]


def test_capture_refuses_a_bad_temporal_weight_and_calibration_before_any_landmarks(tmp_path):
    a = tmp_path / "a"
    _frames(a, 2)
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(cap.CaptureError, match="temporal weight"):
            cap.capture([a], temporal=bad, model="no-such-model")   # fails before the model is loaded
    calib = tmp_path / "calib.json"
    calib.write_text('{"cameras": []}')
    with pytest.raises(cap.CaptureError, match="camera"):
        cap.capture([a], calibration=calib, model="no-such-model")


def test_batch_output_names_are_unique_and_a_bad_size_is_refused(tmp_path):
    assert outputs.unique_names(["x/a.jpg", "y/a.png", "b.jpg", "z/a.jpg"]) == ["a", "a_1", "b", "a_2"]
    with pytest.raises(ValueError, match="batch_size"):
        reconstruct_batch([tmp_path / "a.png"], tmp_path / "out", batch_size=0)
    assert not (tmp_path / "out").exists()


def test_photos_that_cannot_be_read_fail_alone_and_write_nothing(tmp_path, model):
    bad = tmp_path / "notes.jpg"
    bad.write_text("not a photo\n")
    calls = []
    summary = reconstruct_photos([bad, tmp_path / "missing.png"], tmp_path / "out", "realtime", model,
                                 progress=lambda i, n, stage: calls.append((i, n, stage)))
    assert summary["succeeded"] == [] and summary["num_inputs"] == 2
    assert [f["input"] for f in summary["failed"]] == [str(bad), str(tmp_path / "missing.png")]
    assert "notes.jpg" in summary["failed"][0]["error"]
    assert calls == [(0, 2, "reconstructing"), (1, 2, "reconstructing"), (2, 2, "reconstructing")]
    assert not (tmp_path / "out").exists()


def test_batch_reports_each_input_and_lists_unreadable_ones(tmp_path, model):
    bad = tmp_path / "a.jpg"
    bad.write_text("not a photo\n")
    calls = []
    summary = reconstruct_batch([bad, tmp_path / "missing.png"], tmp_path / "out", "realtime", model,
                                progress=lambda *a: calls.append(a))
    assert calls == [(1, 2, 1), (2, 2, 2)]       # one call per input, not per chunk
    assert summary["succeeded"] == [] and [f["input"] for f in summary["failed"]] == [str(bad), str(tmp_path / "missing.png")]
    assert summary["processed"] == 2 and summary["already_done"] == 0


def test_the_library_exports_the_product_functions():
    assert dlm.capture is cap.capture and dlm.write_capture is cap.write_capture
    assert dlm.reconstruct_batch is reconstruct_batch and dlm.reconstruct_photos is reconstruct_photos
    assert issubclass(dlm.CaptureError, ValueError)


def _obj_vertices(path):
    return np.array([[float(x) for x in line.split()[1:4]] for line in path.read_text().splitlines()
                     if line.startswith("v ")])


def test_mesh_obj_is_in_the_head_frame_and_head_to_camera_places_it(tmp_path, model):
    """mesh.obj (default) is the mesh posed with the root joint unrotated and untranslated, and
    params.json's head_to_camera maps it onto the camera-frame mesh the overlay draws; with
    mesh_frame="camera" mesh.obj is that camera-frame mesh."""
    import json
    from dlm.core import facemodel as fm
    from dlm.product import pipeline
    from dlm.product.roi import Roi
    rng = np.random.default_rng(3)
    rots = rng.normal(0, 0.3, (4, 3)).astype(np.float32)
    params = fm.FaceParams(identity=rng.normal(0, 1, model.num_identity).astype(np.float32),
                           expression=rng.uniform(0, 0.5, model.num_expression).astype(np.float32),
                           joint_rotations=rots, translation=np.float32([3, -2, -60]))
    camera = fm.Camera(rotation=np.float32([0.1, -0.2, 0.05]), translation=np.float32([1, 2, -5]),
                       focal=np.float32(800), principal_point=np.float32([320, 240]))
    verts = np.asarray(dlm.vertices(model, params), np.float64)
    own = fm.FaceParams(params.identity, params.expression, rots * np.float32([[0], [1], [1], [1]]),
                        np.zeros(3, np.float32))
    head = np.asarray(dlm.vertices(model, own), np.float64)
    to_world = outputs.head_to_world(params, model)
    # float32 meshes of ~30 cm: agreement to 1e-3 cm is float rounding, not a frame error.
    np.testing.assert_allclose(outputs.to_frame(verts, to_world), head, atol=1e-3)
    np.testing.assert_allclose(head @ to_world[:3, :3].T + to_world[:3, 3], verts, atol=1e-3)
    L = 5
    res = pipeline.FaceResult(image_size=(64, 48), roi=Roi((32.0, 24.0), 40.0, score=-3.0), landmark_set="320",
                              landmarks=np.zeros((L, 2)), sigma=np.ones(L), params=params, camera=camera,
                              fitted_landmarks=np.zeros((L, 2)), energy={"landmarks": 1.0}, vertices=verts)
    image = np.zeros((48, 64, 3), np.uint8)
    outputs.write_face(tmp_path / "h", image, res, model)
    p = json.loads((tmp_path / "h" / "params.json").read_text())
    assert p["mesh_frame"] == "head"
    mesh = _obj_vertices(tmp_path / "h" / "mesh.obj")
    m = np.array(p["head_to_camera"])
    rc = outputs.camera_matrix(camera)
    in_camera = verts @ rc[:3, :3].T + rc[:3, 3]
    np.testing.assert_allclose(mesh, head, atol=1e-4)          # OBJ keeps 5 decimals
    np.testing.assert_allclose(mesh @ m[:3, :3].T + m[:3, 3], in_camera, atol=1e-3)
    outputs.write_face(tmp_path / "c", image, res, model, mesh_frame="camera")
    np.testing.assert_allclose(_obj_vertices(tmp_path / "c" / "mesh.obj"), in_camera, atol=1e-4)
    assert json.loads((tmp_path / "c" / "params.json").read_text())["mesh_frame"] == "camera"
    with pytest.raises(ValueError, match="mesh_frame"):
        outputs.write_face(tmp_path / "x", image, res, model, mesh_frame="world")
