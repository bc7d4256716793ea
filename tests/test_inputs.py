"""Reading user input (dlm.io.images): photos and videos, and every way they can be bad; no network, fast.
The ROI geometry is in test_roi.py, the glTF writer in test_gltf.py."""
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from dlm.io import images as imageio


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
