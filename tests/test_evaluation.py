"""AFLW2000-3D evaluation: protocol arithmetic, crops, bad input, and the real sample when present."""
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.io import savemat

from dlm.cli import main as cli
from dlm.eval import aflw2000 as evaluation
from dlm.landmarks import predictor as lmk
from dlm.landmarks import nets
from conftest import REAL_DIR

AFLW = os.path.join(REAL_DIR, "aflw2000_sample")


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory):
    net = nets.make_network("tiny", 68)
    v = net.init(jax.random.key(0), jnp.zeros((1, 64, 64, 3)))
    path = tmp_path_factory.mktemp("w") / "tiny.npz"
    lmk.save_weights(path, v, dict(network="tiny", num_landmarks=68, size=64, landmark_set="68", loss="gnll"))
    return path


def test_evaluation_crop_is_the_products_crop():
    """The ground-truth box gives a Roi that the product's own crop cuts: corners map onto the
    crop's corners, and a bright pixel lands where the transform says."""
    from dlm.product import roi
    lo, hi = np.array([80.0, 60.0]), np.array([120.0, 90.0])
    box = evaluation.roi_from_box(lo, hi)
    assert box.side == pytest.approx(evaluation.ROI_SCALE * 40.0)
    np.testing.assert_allclose(box.centre, (lo + hi) / 2 + np.array(evaluation.ROI_SHIFT) * 40.0)
    a = box.transform(64)
    c = np.asarray(box.centre)
    corners = np.array([c - box.side / 2, c + box.side / 2, c])
    np.testing.assert_allclose(corners @ a[:, :2].T + a[:, 2], [[0, 0], [64, 64], [32, 32]], atol=1e-9)
    np.testing.assert_allclose(box.to_image(np.array([[32.0, 32.0]]), 64), [c], atol=1e-9)
    img = np.zeros((200, 200, 3), np.uint8)
    img[80, 100] = 255  # pixel centre (100.5, 80.5)
    crop = roi.crop(img, roi.Roi((100.0, 80.0), 64.0), 64)   # (100.5, 80.5) -> crop (32.5, 32.5)
    y, x = np.unravel_index(np.argmax(crop[..., 0]), crop.shape[:2])
    assert (x, y) == (32, 32)


def test_bad_folders_give_clear_errors(tmp_path, tiny_weights, capsys):
    assert cli.main(["eval", "aflw2000", str(tmp_path / "nope"), "--model", str(tiny_weights)]) == 2
    assert "not a folder" in capsys.readouterr().err
    assert cli.main(["eval", "aflw2000", str(tmp_path), "--model", str(tiny_weights)]) == 2
    assert "no imageXXXXX.mat" in capsys.readouterr().err
    savemat(tmp_path / "image00001.mat", {"pt3d_68": np.zeros((3, 5)), "Pose_Para": np.zeros((1, 7))})
    (tmp_path / "image00001.jpg").write_bytes(b"not a jpeg")
    assert cli.main(["eval", "aflw2000", str(tmp_path), "--model", str(tiny_weights)]) == 2
    assert "(3, 68)" in capsys.readouterr().err
    assert cli.main(["eval", "aflw2000", str(tmp_path), "--roi", "auto", "--model", str(tiny_weights)]) == 2


@pytest.mark.skipif(not os.path.isdir(AFLW), reason="../shared/real/aflw2000_sample not present")
def test_aflw2000_sample_runs_the_protocol(tmp_path, tiny_weights):
    out = tmp_path / "r.json"
    assert cli.main(["--quiet", "eval", "aflw2000", AFLW, "--model", str(tiny_weights), "--json", str(out)]) == 0
    import json
    r = json.loads(out.read_text())
    assert r["num_images"] == r["num_evaluated"] == 16
    counts = [b["count"] for b in r["yaw_bins"].values()]
    assert sum(counts) == 16
    # An untrained network predicts near the crop centre: NME is large but finite.
    assert all(np.isfinite(x["nme"]) for x in r["per_image"])


def test_eval_synth_and_bench_predictor_cli(tmp_path, tiny_weights):
    import json
    out = tmp_path / "synth.json"
    assert cli.main(["--quiet", "eval", "synth", "--model", str(tiny_weights), "--num", "8", "--json", str(out)]) == 0
    r = json.loads(out.read_text())["results"]
    assert r["num_images"] == 8 and 0 < r["nme"] < 5 and set(r["nme_by_region"]) >= {"eye", "jaw", "lips"}
    assert 0 <= r["within_1_sigma"] <= r["within_2_sigma"] <= 1
    out = tmp_path / "bench.json"
    assert cli.main(["--quiet", "bench", "predictor", "--threads", "0", "--model", str(tiny_weights),
                     "--repeats", "5", "--json", str(out)]) == 0
    b = json.loads(out.read_text())["results"]
    assert b["crop_and_network"]["median_ms"] > 0 and b["size"] == 64
    assert cli.main(["eval", "synth", "--model", str(tmp_path / "missing.npz")]) == 2
