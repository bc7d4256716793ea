import json
import os
import subprocess
import sys

import numpy as np

from dlm.cli import main as cli
from dlm.io.files import write_obj


def test_model_info_json(tmp_path, capsys):
    out = tmp_path / "info.json"
    assert cli.main(["model", "info", "--json", str(out)]) == 0
    info = json.loads(out.read_text())
    assert info["num_vertices"] == 24591 and info["landmark_sets"]["703"] == 703
    assert "24591 vertices" in capsys.readouterr().out


def test_model_sample_writes_valid_obj(tmp_path):
    out = tmp_path / "head.obj"
    assert cli.main(["--quiet", "model", "sample", "--seed", "3", "--expression", "jawOpen=0.5", "-o", str(out)]) == 0
    lines = out.read_text().splitlines()
    v = np.array([l.split()[1:] for l in lines if l.startswith("v ")], float)
    f = [l.split()[1:] for l in lines if l.startswith("f ")]
    assert v.shape == (24591, 3) and len(f) == 48836
    idx = np.array([[int(c.split("/")[0]) for c in face] for face in f])
    assert idx.min() == 1 and idx.max() == 24591
    # Same seed, same head; another seed, another head.
    out2, out3 = tmp_path / "b.obj", tmp_path / "c.obj"
    cli.main(["--quiet", "model", "sample", "--seed", "3", "--expression", "jawOpen=0.5", "-o", str(out2)])
    cli.main(["--quiet", "model", "sample", "--seed", "4", "-o", str(out3)])
    assert out2.read_bytes() == out.read_bytes() and out3.read_bytes() != out.read_bytes()


def test_bad_inputs_exit_nonzero_without_output(tmp_path, capsys):
    out = tmp_path / "x.obj"
    assert cli.main(["model", "sample", "--expression", "smile=1", "-o", str(out)]) == 2
    assert "unknown expression 'smile'" in capsys.readouterr().err
    assert cli.main(["model", "sample", "--expression", "jawOpen=abc", "-o", str(out)]) == 2
    assert cli.main(["model", "sample", "-o", str(tmp_path / "x.ply")]) == 2
    assert not any(tmp_path.iterdir())


def test_write_obj_is_atomic(tmp_path):
    path = tmp_path / "m.obj"
    path.write_text("old\n")
    bad = np.array([[0, 0, 0], [1, 0, np.nan], [0, 1, 0]], float)
    try:
        write_obj(path, bad, np.array([[0, 1, 2]]))
    except ValueError:
        pass
    assert path.read_text() == "old\n" and os.listdir(tmp_path) == ["m.obj"]


def test_console_script_help():
    """`python -m dlm` is the command line: every subcommand listed, and each one's own help runs."""
    r = subprocess.run([sys.executable, "-m", "dlm", "--help"], capture_output=True, text=True)
    assert r.returncode == 0
    commands = ["model", "synth", "train", "eval", "reconstruct", "track", "capture", "batch", "bench"]
    assert all(c in r.stdout for c in commands), r.stdout
    r = subprocess.run([sys.executable, "-m", "dlm", "bench", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and all(b in r.stdout for b in ("train", "predictor", "realtime", "batch", "synth"))
    r = subprocess.run([sys.executable, "-m", "dlm", "batch", "--help"], capture_output=True, text=True)
    assert "default 64" in r.stdout and "default 4" in r.stdout   # --batch-size and --workers
    r = subprocess.run([sys.executable, "-m", "dlm", "--version"], capture_output=True, text=True)
    from importlib import metadata
    assert r.returncode == 0 and r.stdout.strip() == f"dlm {metadata.version('dlm')}"
    # Until the offline model ships, the product commands default to the model that exists.
    from dlm.landmarks import predictor as lmk
    shipped = "offline" if (lmk.WEIGHTS_DIR / f"{lmk.SHIPPED['offline']}.npz").exists() else "realtime"
    for command in ("reconstruct", "capture", "batch"):
        r = subprocess.run([sys.executable, "-m", "dlm", command, "--help"], capture_output=True, text=True)
        assert f"(default: {shipped})" in " ".join(r.stdout.split()), command


def test_output_location_is_checked_before_any_work(tmp_path, capsys):
    """An -o that is a file, or where no folder can be made, is one line and exit 2, before a model
    is loaded or an image read (the input here does not even exist); nothing is left behind."""
    a_file = tmp_path / "taken"
    a_file.write_text("x")
    for cmd in (["reconstruct", str(tmp_path / "nope.jpg")], ["track", str(tmp_path / "nope.mp4")],
                ["batch", str(tmp_path / "nope")]):
        assert cli.main(cmd + ["-o", str(a_file)]) == 2
        assert "exists and is not a folder" in capsys.readouterr().err
        assert cli.main(cmd + ["-o", str(a_file / "sub")]) == 2
        assert "cannot" in capsys.readouterr().err
        for long in (tmp_path / ("x" * 300), tmp_path / ("x" * 300) / "sub"):   # over NAME_MAX (255)
            assert cli.main(cmd + ["-o", str(long)]) == 2
            err = capsys.readouterr().err
            assert err.startswith("dlm: error:") and err.count("\n") == 1 and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]


def test_unknown_model_name_lists_the_valid_ones(tmp_path, capsys):
    img = tmp_path / "a.png"
    import cv2
    cv2.imwrite(str(img), np.zeros((64, 64, 3), np.uint8))
    assert cli.main(["reconstruct", str(img), "-o", str(tmp_path / "out"), "--model", "bogusname"]) == 2
    err = capsys.readouterr().err
    assert "bogusname" in err and "realtime" in err and "offline" in err and ".npz" in err


def test_zero_frames_or_workers_are_refused(tmp_path, capsys):
    import pytest
    for cmd in (["track", "v.mp4", "-o", str(tmp_path / "o"), "--max-frames", "0"],
                ["batch", str(tmp_path), "-o", str(tmp_path / "o"), "--workers", "0"]):
        with pytest.raises(SystemExit) as e:
            cli.main(cmd)
        assert e.value.code == 2 and "at least 1" in capsys.readouterr().err


def test_reconstruct_needs_images_or_example(tmp_path, capsys):
    """No IMAGE and no --example: one line naming both, exit 2.  The example portrait ships with
    scikit-image (a dependency), so --example works on any install."""
    from dlm.cli import commands
    assert cli.main(["reconstruct", "-o", str(tmp_path / "out")]) == 2
    assert "--example" in capsys.readouterr().err
    assert commands.example_photo().is_file()


def test_progress_bars_go_to_a_terminals_stderr_only(monkeypatch):
    """Redirected output (not a terminal) and --quiet get no bar; a terminal gets one on stderr."""
    import io
    import types
    from dlm.cli.commands import progress_bar

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    for stream, quiet, drawn in ((io.StringIO(), False, False), (Terminal(), True, False), (Terminal(), False, True)):
        monkeypatch.setattr(sys, "stderr", stream)
        bar = progress_bar(types.SimpleNamespace(quiet=quiet), "reconstructing")
        for i in range(5):
            bar(i, 4, "a.jpg")
        text = stream.getvalue()
        assert ("reconstructing" in text and "3/4" in text and "a.jpg" in text) == drawn, (quiet, text)
