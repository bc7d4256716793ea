"""AFLW2000-3D evaluation: protocol arithmetic, crops, bad input, and the real sample when present."""
import os

import jax
import numpy as np
import pytest
from scipy.io import savemat

from dlm.cli import main as cli
from dlm.eval import aflw2000 as evaluation
from dlm.landmarks import predictor as lmk
from dlm.landmarks import nets, onnx_runtime
from conftest import REAL_DIR

AFLW = os.path.join(REAL_DIR, "aflw2000_sample")


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory):
    net = nets.make_network("tiny", 68)
    v = nets.init_variables(net, jax.random.key(0))
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


@pytest.mark.skipif(not os.path.isdir(AFLW), reason="../shared/real/aflw2000_sample not present")
def test_eval_with_its_own_face_finding_on_the_real_sample(tmp_path):
    """`dlm eval aflw2000 --roi auto` with the shipped real-time network: the face detector's boxes
    judged by the network, no ground truth.  Measured 2026-12-07 (session 59): all 16 faces found,
    balanced NME 4.56% translated to AFLW2000-3D's 68 (6.26% raw ICT 68), worst photo 7.5%, no
    failure over 10%.  Bounds sit just above, so a face finder or network that gets worse on real
    photos fails here."""
    out = tmp_path / "auto.json"
    assert cli.main(["--quiet", "eval", "aflw2000", AFLW, "--roi", "auto", "--model", "realtime",
                     "--json", str(out)]) == 0
    import json
    r = json.loads(out.read_text())
    assert r["roi"] == "auto" and r["detector"] == "yunet"
    assert r["num_images"] == r["num_evaluated"] == 16 and r["detection_rate"] == 1.0
    assert r["nme_balanced"] < 0.050 and r["raw"]["nme_balanced"] < 0.068
    assert max(x["nme"] for x in r["per_image"]) < 0.10 and r["failure_rate_10"] == 0.0


def test_eval_synth_and_bench_predictor_cli(tmp_path, tiny_weights):
    import json
    out = tmp_path / "synth.json"
    assert cli.main(["--quiet", "eval", "synth", "--model", str(tiny_weights), "--num", "8", "--json", str(out)]) == 0
    r = json.loads(out.read_text())["results"]
    assert r["num_images"] == 8 and 0 < r["nme"] < 5 and set(r["nme_by_region"]) >= {"eye", "jaw", "lips"}
    assert 0 <= r["within_1_sigma"] <= r["within_2_sigma"] <= 1
    out = tmp_path / "bench.json"
    assert cli.main(["--quiet", "bench", "predictor", "--threads", "0", "--model", str(tiny_weights),
                     "--repeats", "5", "--runtime", "xla", "--json", str(out)]) == 0
    b = json.loads(out.read_text())["results"]
    assert b["crop_and_network"]["median_ms"] > 0 and b["size"] == 64
    w = b["weights_as_constants_vs_arguments"]
    assert w["constants_median_ms"] > 0 and w["ratio"] == pytest.approx(w["constants_median_ms"] / w["arguments_median_ms"])
    assert b["runtime"] == "xla" and b["runtime_vs_xla"] is None
    if onnx_runtime.available():   # the tiny network is a MobileNetV2: ONNX Runtime joins XLA's rounds
        assert cli.main(["--quiet", "bench", "predictor", "--threads", "0", "--model", str(tiny_weights),
                         "--repeats", "5", "--runtime", "onnxruntime", "--json", str(out)]) == 0
        v = json.loads(out.read_text())["results"]["runtime_vs_xla"]
        assert v["runtime"] == "onnxruntime" and v["ratio"] == pytest.approx(v["median_ms"] / v["xla_median_ms"])
    assert cli.main(["eval", "synth", "--model", str(tmp_path / "missing.npz")]) == 2


class _KnownOffsetPredictor(lmk.Predictor):
    """Returns each photo's ground truth (in crop pixels) plus a known offset per point, in the
    order eval_aflw2000 reads the photos: the protocol's arithmetic then has exact answers."""

    def __init__(self, answers, size=64):
        self.size, self.landmark_set, self.num_landmarks, self.manifest = size, "68", 68, {}
        self.answers = list(answers)

    def __call__(self, crops):
        mu = np.asarray(self.answers.pop(0), np.float32)[None]
        return mu, np.full((1, 68), 1.0, np.float32)


def test_protocol_arithmetic_is_exact_with_known_errors(tmp_path):
    """NME per image (mean error over sqrt(w h) of the gt box), inner 51 (points 17-67), yaw bins
    by |yaw| in [0, 30), [30, 60), [60, 90], the balanced mean of bin means, failures over 0.10."""
    import cv2
    rng = np.random.default_rng(0)
    yaws = [10.0, -29.5, 30.5, 59.5, 60.5, -89.0]
    shifts = [0.01, 0.03, 0.05, 0.12, 0.02, 0.20]          # error as a fraction of sqrt(w h), all points
    jaw_extra = [0.0, 0.0, 0.0, 0.0, 0.4, 0.0]             # photo 4: points 0-16 off by more
    answers, expected = [], []
    for k, (yaw, shift, extra) in enumerate(zip(yaws, shifts, jaw_extra)):
        gt = np.stack([rng.uniform(100, 220, 68), rng.uniform(90, 260, 68)], 1)
        lo, hi = gt.min(0), gt.max(0)
        norm = np.sqrt(np.prod(hi - lo))
        off = np.zeros((68, 2))
        off[:, 0] = shift * norm
        off[:17, 1] = extra * norm
        err = np.linalg.norm(off, axis=1) / norm
        expected.append((abs(yaw), err.mean(), err[17:].mean()))
        # The .mat holds 0-based coordinates: dlm reads them +0.5.
        savemat(tmp_path / f"image{k:05d}.mat", {"pt3d_68": np.vstack([(gt - 0.5).T, np.zeros((1, 68))]),
                                                 "Pose_Para": np.array([[0.0, np.radians(yaw), 0.0, 0, 0, 0, 1]])})
        cv2.imwrite(str(tmp_path / f"image{k:05d}.jpg"), np.zeros((300, 300, 3), np.uint8))
        a = evaluation.roi_from_box(lo, hi).transform(64)
        answers.append((gt + off) @ a[:, :2].T + a[:, 2])
    r = evaluation.eval_aflw2000(tmp_path, _KnownOffsetPredictor(answers), roi="gt")
    nme = [e[1] for e in expected]
    np.testing.assert_allclose([x["nme"] for x in r["per_image"]], nme, rtol=1e-4)
    np.testing.assert_allclose([x["nme_inner51"] for x in r["per_image"]], [e[2] for e in expected], rtol=1e-4)
    bins = {"0-30": [0, 1], "30-60": [2, 3], "60-90": [4, 5]}
    for name, members in bins.items():
        assert r["yaw_bins"][name]["count"] == len(members)
        assert r["yaw_bins"][name]["nme"] == pytest.approx(np.mean([nme[i] for i in members]), rel=1e-4)
    assert r["nme_balanced"] == pytest.approx(np.mean([np.mean([nme[i] for i in m]) for m in bins.values()]), rel=1e-4)
    assert r["nme_mean"] == pytest.approx(np.mean(nme), rel=1e-4)
    assert r["nme_inner51_mean"] == pytest.approx(np.mean([e[2] for e in expected]), rel=1e-4)
    # Photos 3 (0.12), 4 (the jaw's hypot(0.02, 0.4) and 0.02 elsewhere: 0.115 over 68, 0.02 over the
    # inner 51) and 5 (0.20) fail.
    assert nme[4] > 0.10
    assert r["failure_rate_10"] == pytest.approx(3 / 6)
    assert r["num_evaluated"] == r["num_images"] == 6


def test_label_translation_fit_recovers_known_coefficients():
    """Truth made from the dense points by known coefficients is fitted back exactly (no ridge);
    moving and scaling every photo (and its normaliser) leaves the fit unchanged: the translation
    is an affine combination of landmarks, so it follows a similarity transform of the image."""
    from dlm.landmarks import label_translation as lt
    rng = np.random.default_rng(3)
    template = rng.normal(size=(30, 3))
    nb = lt.neighbours(template, 5, num_points=8)
    d = np.linalg.norm(template[:8, None] - template[None], axis=2)
    for k in range(8):     # the 5 nearest others, nearest first
        others = [j for j in np.argsort(d[k]) if j != k][:5]
        assert list(nb[k]) == others
    coef = rng.normal(scale=0.3, size=(8, 5))
    mu = rng.uniform(0, 200, (40, 30, 2))
    truth = lt.apply(mu, nb, coef)
    assert truth.shape == (40, 8, 2)
    norm = rng.uniform(50, 150, 40)
    np.testing.assert_allclose(lt.fit(mu, truth, norm, nb, 0.0), coef, atol=1e-9)
    s, t = 2.5, np.array([30.0, -12.0])
    np.testing.assert_allclose(lt.fit(mu * s + t, truth * s + t, norm * s, nb, 0.0), coef, atol=1e-9)
    # No coefficients: the dense set's own first points.
    np.testing.assert_array_equal(lt.apply(mu, nb, np.zeros_like(coef)), mu[:, :8])
    # Points that start from other landmarks (a peer's mesh mapped to the 68): the same, from those.
    base = np.array([29, 3, 17, 8, 11, 0, 21, 5])
    nb_b = lt.neighbours(template, 5, base=base)
    assert all(b not in row for b, row in zip(base, nb_b))
    truth_b = lt.apply(mu, nb_b, coef, base)
    np.testing.assert_array_equal(lt.apply(mu, nb_b, np.zeros_like(coef), base), mu[:, base])
    np.testing.assert_allclose(lt.fit(mu, truth_b, norm, nb_b, 0.0, base), coef, atol=1e-9)


def test_label_translation_yaw_terms_and_mirror_sharing():
    """yaw_proxy reads sin(yaw) exactly from an affine view of the template (any scale, shift, roll
    in the image) and negates under a mirror; coefficients that are polynomials in it are fitted
    back exactly; with mirrored photos and symmetric neighbours, the two points of a mirror pair
    come out with one set of coefficients; a yaw table refuses to translate without the template."""
    from dlm.landmarks import label_translation as lt
    rng = np.random.default_rng(5)
    half = rng.normal(size=(15, 3)) + np.array([1.5, 0.0, 0.0])
    template = np.concatenate([half, half * np.array([-1.0, 1.0, 1.0])])     # symmetric in x
    mirror = np.concatenate([np.arange(15, 30), np.arange(15)])
    points = np.array([0, 1, 2, 15, 16, 17])                                    # three pairs, first
    order = np.concatenate([points, np.setdiff1d(np.arange(30), points)])
    template, mirror = template[order], np.argsort(order)[mirror[order]]
    mirror_points = mirror[:6]
    assert sorted(mirror_points) == list(range(6))

    def view(yaw_deg, roll_deg, scale, shift):
        c, s = np.cos(np.radians(yaw_deg)), np.sin(np.radians(yaw_deg))
        yawed = template @ np.array([[c, 0, -s], [0, 1, 0], [s, 0, c]])      # x' = c x + s z
        cr, sr = np.cos(np.radians(roll_deg)), np.sin(np.radians(roll_deg))
        return scale * yawed[:, :2] @ np.array([[cr, sr], [-sr, cr]]) + shift
    yaws = rng.uniform(-80, 80, 60)
    mu = np.stack([view(y, rng.uniform(-30, 30), rng.uniform(20, 90), rng.uniform(0, 300, 2)) for y in yaws])
    s = lt.yaw_proxy(mu, template)
    # With roll the image x axis mixes in y, which the proxy's normalisation does not undo: exact at roll 0.
    flat = np.stack([view(y, 0.0, 40.0, np.array([100.0, 80.0])) for y in yaws])
    np.testing.assert_allclose(lt.yaw_proxy(flat, template), np.sin(np.radians(yaws)), atol=1e-9)
    assert np.corrcoef(s, np.sin(np.radians(yaws)))[0, 1] > 0.9
    mm, _ = lt.mirrored(flat, flat[:, :6], mirror, mirror_points)
    np.testing.assert_allclose(lt.yaw_proxy(mm, template), -lt.yaw_proxy(flat, template), atol=1e-9)
    # Coefficients linear and quadratic in yaw, fitted back exactly.
    mu = mu + rng.normal(scale=2.0, size=mu.shape)                              # not a rigid view: a full-rank fit
    nb = lt.symmetric_neighbours(template, 4, mirror, num_points=6)
    for i in range(6):
        np.testing.assert_array_equal(nb[mirror[i]], mirror[nb[i]])
    coef = rng.normal(scale=0.3, size=(6, 12))
    yaw = lt.yaw_proxy(mu[:, :6], template[:6])
    truth = lt.apply(mu, nb, coef, yaw=yaw)
    np.testing.assert_allclose(lt.fit(mu, truth, np.full(60, 50.0), nb, 0.0, yaw=yaw, degree=2), coef, atol=1e-8)
    np.testing.assert_allclose(lt.translate(mu, (nb, coef), template[:6]), truth, atol=1e-9)
    # The yaw read from the translated points' own landmarks (here the first 6) against their template.
    np.testing.assert_allclose(lt.yaw_proxy(flat[:, :6], template[:6]), np.sin(np.radians(yaws)), atol=1e-9)
    with pytest.raises(ValueError, match="template"):
        lt.translate(mu, (nb, coef))
    # Points that start from other landmarks (a peer's): the yaw is read from those, against their template.
    base = np.array([20, 7, 25, 9, 11, 28])
    nb_b = lt.neighbours(template, 4, base=base)
    want = lt.apply(mu, nb_b, coef, base, yaw=lt.yaw_proxy(mu[:, base], template[base]))
    np.testing.assert_allclose(lt.translate(mu, (nb_b, coef), template[base], base), want, atol=1e-12)
    assert not np.allclose(want, lt.apply(mu, nb_b, coef, base, yaw=yaw))   # not the first 6's yaw
    assert lt.depends_on_yaw((nb, coef)) and not lt.depends_on_yaw((nb, coef[:, :4])) and not lt.depends_on_yaw(None)
    # Mirror sharing: photos and their mirror images, symmetric neighbours -> a pair's coefficients agree.
    truth = mu[:, :6] + rng.normal(scale=3.0, size=(60, 6, 2))
    m2, t2 = lt.mirrored(mu, truth, mirror, mirror_points)
    m2, t2 = np.concatenate([mu, m2]), np.concatenate([truth, t2])
    shared = lt.fit(m2, t2, np.full(120, 50.0), nb, 0.01, yaw=lt.yaw_proxy(m2[:, :6], template[:6]), degree=1)
    for i in range(6):
        sign = np.repeat([1.0, -1.0], 4)        # the yaw term changes sign with the mirror
        np.testing.assert_allclose(shared[mirror[i]], shared[i] * sign, atol=1e-9)


def test_eval_applies_the_models_label_translation_and_reports_raw(tmp_path):
    """A model whose manifest holds a translation (each point moved halfway to the next) is scored on
    the translated points; `raw` and nme_raw are the untranslated scores; label_translation=False
    scores ICT's points alone."""
    import cv2
    rng = np.random.default_rng(1)
    gts, answers = [], []
    for k, yaw in enumerate([5.0, 45.0, 75.0]):
        gt = np.stack([rng.uniform(100, 220, 68), rng.uniform(90, 260, 68)], 1)
        lo, hi = gt.min(0), gt.max(0)
        savemat(tmp_path / f"image{k:05d}.mat", {"pt3d_68": np.vstack([(gt - 0.5).T, np.zeros((1, 68))]),
                                                 "Pose_Para": np.array([[0.0, np.radians(yaw), 0.0, 0, 0, 0, 1]])})
        cv2.imwrite(str(tmp_path / f"image{k:05d}.jpg"), np.zeros((300, 300, 3), np.uint8))
        a = evaluation.roi_from_box(lo, hi).transform(64)
        pred_px = gt + rng.normal(scale=3.0, size=gt.shape)
        answers.append(pred_px @ a[:, :2].T + a[:, 2])
        gts.append((gt, pred_px, np.sqrt(np.prod(hi - lo))))
    nb = [[(k + 1) % 68] for k in range(68)]
    table = dict(fitted_on="test", num_photos=3, neighbours=nb, coef=[[0.5]] * 68)
    pred = _KnownOffsetPredictor(answers)
    pred.manifest = {"label_translation": {"aflw2000_68": table}}
    r = evaluation.eval_aflw2000(tmp_path, pred, roi="gt")
    for rec, (gt, p, norm) in zip(r["per_image"], gts):
        moved = (p + np.roll(p, -1, axis=0)) / 2
        assert rec["nme"] == pytest.approx(np.mean(np.linalg.norm(moved - gt, axis=1)) / norm, rel=1e-4)
        assert rec["nme_raw"] == pytest.approx(np.mean(np.linalg.norm(p - gt, axis=1)) / norm, rel=1e-4)
    assert r["label_translation"] == dict(fitted_on="test", num_photos=3)
    assert r["raw"]["nme_mean"] == pytest.approx(np.mean([x["nme_raw"] for x in r["per_image"]]))
    assert r["nme_mean"] == pytest.approx(np.mean([x["nme"] for x in r["per_image"]]))
    # A table whose coefficients depend on yaw (0.5 + 0.25 s, s the yaw read from the 68 against ICT's
    # template): eval reads the template of the predictor's landmark set and applies it.
    from dlm.landmarks import label_translation as lt
    from dlm.product import roi as roi_lib
    pred.answers = list(answers)
    pred.manifest = {"label_translation": {"aflw2000_68": dict(table, coef=[[0.5, 0.25]] * 68)}}
    r_yaw = evaluation.eval_aflw2000(tmp_path, pred, roi="gt")
    template = roi_lib.landmark_template("68")
    for rec, (gt, p, norm) in zip(r_yaw["per_image"], gts):
        s = lt.yaw_proxy(p, template)
        moved = p + (0.5 + 0.25 * s) * (np.roll(p, -1, axis=0) - p)
        assert rec["nme"] == pytest.approx(np.mean(np.linalg.norm(moved - gt, axis=1)) / norm, rel=1e-4)
    pred.answers = list(answers)
    plain = evaluation.eval_aflw2000(tmp_path, pred, roi="gt", label_translation=False)
    assert plain["raw"] is None and plain["label_translation"] is None
    assert [x["nme"] for x in plain["per_image"]] == pytest.approx([x["nme_raw"] for x in r["per_image"]])
