"""`dlm synth` (work in progress): deterministic output, label format, atomic writes."""
import filecmp
import os

import cv2
import numpy as np

from dlm import cli


def test_synth_is_deterministic_and_labels_match_masks(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    assert cli.main(["--quiet", "synth", "--num", "2", "--size", "96", "--seed", "5", "--out", str(a)]) == 0
    assert cli.main(["--quiet", "synth", "--num", "2", "--size", "96", "--seed", "5", "--out", str(b)]) == 0
    for rel in ("labels.npz", "images/000000.png", "images/000001.png", "masks/000001.png"):
        assert filecmp.cmp(a / rel, b / rel, shallow=False), rel
    z = np.load(a / "labels.npz")
    assert z["landmarks"].shape == (2, 703, 2) and z["visible"].shape == (2, 703)
    assert z["identity"].shape == (2, 100) and z["expression"].shape == (2, 55)
    for i in range(2):
        mask = cv2.imread(str(a / "masks" / f"{i:06d}.png"), cv2.IMREAD_UNCHANGED)
        img = cv2.imread(str(a / "images" / f"{i:06d}.png"))
        assert mask.shape == (96, 96) and img.shape == (96, 96, 3)
        vis = z["visible"][i]
        assert vis.sum() > 50
        px = np.floor(z["landmarks"][i][vis]).astype(int)
        assert (mask[px[:, 1], px[:, 0]] > 0).all()  # every visible landmark is on the face
    c = tmp_path / "c"
    cli.main(["--quiet", "synth", "--num", "1", "--size", "96", "--seed", "6", "--out", str(c)])
    assert not filecmp.cmp(a / "images/000000.png", c / "images/000000.png", shallow=False)


def test_synth_refuses_a_non_empty_folder(tmp_path, capsys):
    out = tmp_path / "full"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert cli.main(["synth", "--num", "1", "--size", "64", "--out", str(out)]) == 2
    assert "not an empty folder" in capsys.readouterr().err
    assert os.listdir(out) == ["keep.txt"]
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".synth-")]
