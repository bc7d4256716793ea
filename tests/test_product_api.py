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




def test_the_library_keeps_compiled_programs_between_processes_as_the_command_line_does(tmp_path):
    """`dlm.reconstruct` and the other product and fitting names turn on JAX's persistent compilation
    cache in $DLM_CACHE/jax (a fresh process otherwise compiles the offline fit for most of a minute),
    as `dlm reconstruct` does; a cache folder the caller gave JAX is kept, DLM_NO_COMPILE_CACHE=1 turns
    it off, and names that compile nothing (reading an image) leave JAX's settings alone."""
    import os
    import subprocess
    import sys
    code = ("import dlm, jax; dlm.read_image; a = jax.config.jax_compilation_cache_dir; dlm.{name}; "
            "print(a, jax.config.jax_compilation_cache_dir, jax.config.jax_persistent_cache_min_compile_time_secs)")
    env = {k: v for k, v in os.environ.items() if k not in ("DLM_CACHE_DIR", "JAX_COMPILATION_CACHE_DIR",
                                                            "DLM_NO_COMPILE_CACHE")}
    env.update(DLM_CACHE=str(tmp_path), JAX_PLATFORMS="cpu")

    def run(name, **extra):
        r = subprocess.run([sys.executable, "-c", code.format(name=name)], env=dict(env, **extra),
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr[-2000:]
        return r.stdout.split()

    assert run("reconstruct") == ["None", str(tmp_path / "jax"), "0.0"]
    assert run("Tracker")[1] == str(tmp_path / "jax") and run("fit")[1] == str(tmp_path / "jax")
    assert run("reconstruct", DLM_CACHE_DIR=str(tmp_path / "mine"))[1] == str(tmp_path / "mine")
    assert run("reconstruct", JAX_COMPILATION_CACHE_DIR=str(tmp_path / "jaxs"))[1] == str(tmp_path / "jaxs")
    assert run("reconstruct", DLM_NO_COMPILE_CACHE="1")[1] == "None"
