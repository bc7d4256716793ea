"""What dlm writes (dlm.product.outputs): the mesh's frame and the transform that places it."""
import json

import numpy as np
import pytest

import dlm
from dlm.core import facemodel as fm
from dlm.product import outputs, pipeline
from dlm.product.roi import Roi


def test_mesh_obj_is_in_the_head_frame_and_head_to_camera_places_it(tmp_path, model):
    """mesh.obj (default) is the mesh posed with the root joint unrotated and untranslated, and
    params.json's head_to_camera maps it onto the camera-frame mesh the overlay draws; with
    mesh_frame="camera" mesh.obj is that camera-frame mesh."""
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


def _obj_vertices(path):
    return np.array([[float(x) for x in line.split()[1:4]] for line in path.read_text().splitlines()
                     if line.startswith("v ")])
