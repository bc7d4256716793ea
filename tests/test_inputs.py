"""Reading user input (photos, videos), the ROI geometry, and the glTF writer: no network, fast."""
import json
import os
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest

from dlm.io import gltf
from dlm.io import images as imageio
from dlm.product import roi


def _write(path, arr):
    assert cv2.imwrite(str(path), arr)
    return path


def test_read_image_formats(tmp_path):
    rng = np.random.default_rng(0)
    bgr = rng.integers(0, 255, (40, 50, 3), np.uint8)
    rgb = imageio.read_image(_write(tmp_path / "c.png", bgr))
    assert rgb.shape == (40, 50, 3) and rgb.dtype == np.uint8 and np.array_equal(rgb, bgr[..., ::-1])
    gray = imageio.read_image(_write(tmp_path / "g.png", bgr[..., 0]))
    assert gray.shape == (40, 50, 3) and np.array_equal(gray[..., 0], bgr[..., 0]) and np.array_equal(gray[..., 2],
                                                                                                      bgr[..., 0])
    bgra = np.concatenate([bgr, np.full((40, 50, 1), 7, np.uint8)], 2)
    assert np.array_equal(imageio.read_image(_write(tmp_path / "a.png", bgra)), rgb)
    b16 = bgr.astype(np.uint16) * 257
    assert np.array_equal(imageio.read_image(_write(tmp_path / "d.png", b16)), rgb)
    jpg = imageio.read_image(_write(tmp_path / "j.jpg", bgr))
    assert jpg.shape == (40, 50, 3)


@pytest.mark.parametrize("case", ["truncated_jpeg", "truncated_png", "text", "empty", "missing", "folder", "tiny",
                                  "huge"])
def test_read_image_bad_input_names_the_file(tmp_path, case):
    img = np.random.default_rng(1).integers(0, 255, (64, 64, 3), np.uint8)
    p = tmp_path / f"{case}.jpg"
    if case == "truncated_jpeg":
        data = cv2.imencode(".jpg", img)[1].tobytes()
        p.write_bytes(data[: len(data) // 2])
        msg = "truncated JPEG"
    elif case == "truncated_png":
        p = tmp_path / "t.png"
        data = cv2.imencode(".png", img)[1].tobytes()
        p.write_bytes(data[: len(data) - 30])
        msg = "truncated PNG"
    elif case == "text":
        p.write_text("not an image\n" * 10)
        msg = "not an image"
    elif case == "empty":
        p.write_bytes(b"")
        msg = "empty file"
    elif case == "missing":
        msg = "no such file"
    elif case == "folder":
        p.mkdir()
        msg = "is a folder"
    elif case == "tiny":
        _write(p, img[:8, :8])
        msg = "too small"
    else:
        _write(p := tmp_path / "huge.png", np.zeros((16, imageio.MAX_SIDE + 1), np.uint8))
        msg = "larger than"
    with pytest.raises(imageio.InputError) as e:
        imageio.read_image(p)
    assert msg in str(e.value) and p.name in str(e.value)


def test_video_reader_counts_and_rejects(tmp_path):
    path = tmp_path / "v.avi"
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (64, 48))
    for i in range(12):
        w.write(np.full((48, 64, 3), i * 20, np.uint8))
    w.release()
    r = imageio.VideoReader(path)
    frames = list(r)
    assert len(frames) == 12 and frames[0].shape == (48, 64, 3) and r.fps == pytest.approx(10.0)
    assert not r.ended_early
    assert len(list(imageio.VideoReader(path, max_frames=5))) == 5
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(os.urandom(2000))
    with pytest.raises(imageio.InputError, match="bad.mp4"):
        imageio.VideoReader(bad)
    with pytest.raises(imageio.InputError, match="no such file"):
        imageio.VideoReader(tmp_path / "none.mp4")
    with pytest.raises(imageio.InputError, match="webcam 57"):
        imageio.VideoReader(57)


def test_roi_transform_round_trip_and_upright_framing():
    r = roi.Roi((120.0, 80.0), 64.0, np.radians(20))
    pts = np.random.default_rng(2).uniform(0, 200, (10, 2))
    a = r.transform(128)
    crop_pts = pts @ a[:, :2].T + a[:, 2]
    assert np.allclose(r.to_image(crop_pts, 128), pts)
    # The centre maps to the crop centre and the crop's x axis lies along the angle.
    c = np.asarray(r.centre)
    assert np.allclose(a[:, :2] @ c + a[:, 2], [64, 64])
    step = a[:, :2] @ np.array([np.cos(r.angle), np.sin(r.angle)])
    assert step[1] == pytest.approx(0, abs=1e-9) and step[0] > 0


def test_roi_from_landmarks_levels_the_eyes(model):
    # Template landmarks seen from the front, rolled by 25 degrees in the image.
    ids = np.asarray(model.landmarks["320"])
    p = np.asarray(model.template)[ids][:, :2] * np.array([8.0, -8.0]) + np.array([300.0, 200.0])
    t = np.radians(25)
    rot = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
    q = (p - [300, 200]) @ rot.T + [300, 200]
    r0 = roi.roi_from_landmarks(p, "320")
    r1 = roi.roi_from_landmarks(q, "320")
    assert abs(r0.angle) < np.radians(1) and r1.angle == pytest.approx(t, abs=np.radians(1))
    assert r1.side == pytest.approx(r0.side, rel=0.05)
    # In the crop, the two faces' landmarks coincide (the rotation is undone).
    a0, a1 = r0.transform(128), r1.transform(128)
    assert np.allclose(p @ a0[:, :2].T + a0[:, 2], q @ a1[:, :2].T + a1[:, 2], atol=1.5)
    # The non-neck box fills FILL of the side (within the box ratio of this set).
    keep = np.array([n != "neck" for n in model.landmark_regions["320"]])
    ext = np.ptp(p[keep], axis=0).max()
    assert r0.side == pytest.approx(ext * roi.BOX_RATIO["320"] / roi.FILL, rel=1e-6)


def test_sliding_windows_cover_the_image():
    wins = roi.sliding_windows(640, 480, 60.0, 0.7, 0.5)
    sides = sorted({round(w.side, 3) for w in wins})
    assert sides[-1] == 640 and sides[0] >= 60
    for s in sides:
        boxes = np.array([w.box() for w in wins if round(w.side, 3) == s])
        if s <= 480:   # windows of one scale reach every border
            assert boxes[:, 0].min() <= 1e-6 and boxes[:, 2].max() >= 640 - 1e-6
            assert boxes[:, 1].min() <= 1e-6 and boxes[:, 3].max() >= 480 - 1e-6


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


def test_video_that_is_not_a_video_is_one_clear_error_and_no_library_noise(tmp_path):
    """A text file named .mp4: InputError naming it, and nothing from FFmpeg on the process's
    stderr (fd 2, where FFmpeg writes "moov atom not found" unless dlm quiets it).  In a fresh
    process that first writes a video, as `dlm track` does: FFmpeg fixes its log level at its
    first use, so quieting it only when a video is read came too late (CI saw the line)."""
    bad = tmp_path / "notes.mp4"
    bad.write_text("not a video\n" * 10)
    script = ("import sys, numpy as np, cv2, dlm.io.images as im\n"
              "w = cv2.VideoWriter(sys.argv[2], cv2.VideoWriter_fourcc(*'mp4v'), 10, (32, 32))\n"
              "w.write(np.zeros((32, 32, 3), np.uint8)); w.release()\n"
              "try:\n    im.VideoReader(sys.argv[1])\nexcept im.InputError as e:\n    print(e)\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENCV_")}
    out = subprocess.run([sys.executable, "-c", script, str(bad), str(tmp_path / "ok.mp4")], env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "notes.mp4" in out.stdout, out.stdout + out.stderr
    assert "moov" not in out.stderr and "WARN" not in out.stderr, out.stderr
