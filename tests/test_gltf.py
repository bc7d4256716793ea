"""The glTF writer (dlm.io.gltf): a round trip through the reader, and Khronos' validator where
installed."""
import json
import os
import shutil
import subprocess

import cv2
import numpy as np
import pytest

from dlm.io import gltf


def _tiny_glb(T=5):
    rng = np.random.default_rng(3)
    V, E, K = 30, 4, 4
    verts = rng.normal(size=(V, 3)) * 10
    faces = np.array([[i, i + 1, i + 2] for i in range(V - 2)])
    basis = np.zeros((V, 3, E))
    basis[:5, :, 0] = rng.normal(size=(5, 3))
    basis[10:, :, 1:] = rng.normal(size=(V - 10, 3, E - 1))
    w = rng.uniform(size=(V, K)) * (rng.uniform(size=(V, K)) > 0.4)
    w[:, 0] += 0.1
    w /= w.sum(1, keepdims=True)
    joints = rng.normal(size=(K, 3))
    expr = rng.uniform(size=(T, E))
    rots = rng.normal(size=(T, K, 3)) * 0.2
    trans = rng.normal(size=(T, 3))
    blob = gltf.build_glb(verts, faces, basis, [f"s{e}" for e in range(E)], joints, ["a", "b", "c", "d"],
                          (-1, 0, 1, 1), w, np.arange(T) / 30.0, expr, rots, trans)
    return blob, dict(verts=verts, faces=faces, basis=basis, expr=expr, rots=rots, trans=trans, joints=joints)


def test_gltf_round_trip():
    blob, ref = _tiny_glb()
    doc, bin_ = gltf.read_glb(blob)
    prim = doc["meshes"][0]["primitives"][0]
    pos = gltf.read_accessor(doc, bin_, prim["attributes"]["POSITION"])
    assert np.allclose(pos, ref["verts"] * 0.01, atol=1e-6)
    assert np.array_equal(gltf.read_accessor(doc, bin_, prim["indices"]).reshape(-1, 3), ref["faces"])
    for e, t in enumerate(prim["targets"]):
        assert np.allclose(gltf.read_accessor(doc, bin_, t["POSITION"]), ref["basis"][:, :, e] * 0.01, atol=1e-6)
    assert doc["meshes"][0]["extras"]["targetNames"] == ["s0", "s1", "s2", "s3"]
    anim = doc["animations"][0]
    by_path = {(c["target"]["node"], c["target"]["path"]): anim["samplers"][c["sampler"]] for c in anim["channels"]}
    weights = gltf.read_accessor(doc, bin_, by_path[(0, "weights")]["output"]).reshape(5, 4)
    assert np.allclose(weights, ref["expr"], atol=1e-6)
    q = gltf.read_accessor(doc, bin_, by_path[(2, "rotation")]["output"])
    assert np.allclose(q, gltf.axis_angle_to_quaternion(ref["rots"][:, 1]), atol=1e-6)
    assert np.allclose(np.linalg.norm(q, axis=1), 1, atol=1e-6)
    # A quaternion rotates like the axis-angle it came from.
    rv = ref["rots"][0, 1]
    x, y, z, w = gltf.axis_angle_to_quaternion(rv)
    rq = np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                   [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                   [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])
    assert np.allclose(rq, cv2.Rodrigues(rv)[0], atol=1e-6)
    # Skin weights sum to one; joints with zero weight point at joint 0 (the spec's rule).
    jw = gltf.read_accessor(doc, bin_, prim["attributes"]["WEIGHTS_0"])
    jj = gltf.read_accessor(doc, bin_, prim["attributes"]["JOINTS_0"])
    assert np.allclose(jw.sum(1), 1, atol=1e-6) and (jj[jw == 0] == 0).all()
    with pytest.raises(ValueError):
        gltf.read_glb(blob[:-4])


VALIDATOR = os.environ.get("DLM_GLTF_VALIDATOR", os.path.expanduser("~/.cache/dlm/gltf-validator"))


@pytest.mark.skipif(not (shutil.which("node") and os.path.isdir(os.path.join(VALIDATOR, "node_modules",
                                                                            "gltf-validator"))),
                    reason="Khronos glTF validator not installed (.ci/run installs it with npm)")
def test_gltf_passes_khronos_validator(tmp_path):
    blob, _ = _tiny_glb()
    (tmp_path / "a.glb").write_bytes(blob)
    script = ("const v=require('gltf-validator');const fs=require('fs');"
              "v.validateBytes(new Uint8Array(fs.readFileSync(process.argv[1])))"
              ".then(r=>console.log(JSON.stringify(r.issues)))")
    out = subprocess.run(["node", "-e", script, str(tmp_path / "a.glb")], cwd=VALIDATOR, capture_output=True,
                         text=True, timeout=120)
    issues = json.loads(out.stdout)
    assert issues["numErrors"] == 0 and issues["numWarnings"] == 0, issues["messages"][:5]
