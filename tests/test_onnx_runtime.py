"""The landmark network run by ONNX Runtime (dlm.landmarks.onnx_runtime, `Predictor(runtime=...)`):
the graph written from the weights computes what XLA computes."""
import jax
import numpy as np
import pytest

from dlm.cli import main as cli
from dlm.landmarks import nets, onnx_runtime
from dlm.landmarks import predictor as lmk

needs_ort = pytest.mark.skipif(not onnx_runtime.available(), reason="onnx and onnxruntime not installed")


def _random_mobilenet(size=64, num_landmarks=68, seed=0):
    """The test suite's tiny MobileNetV2 whose every weight and batch-norm statistic is drawn at random (away from
    initialisation's unit variances and near-zero head), so that its output depends on the crop and
    every folded term of the graph matters."""
    net = nets.make_network("tiny", num_landmarks)
    v = jax.tree_util.tree_map(np.asarray, nets.init_variables(net, jax.random.key(seed)))
    rng = np.random.default_rng(seed)

    def draw(path, a):
        name = jax.tree_util.keystr(path)
        if "var" in name:
            return rng.uniform(0.5, 2.0, a.shape).astype(np.float32)
        if "LandmarkHead" in name:
            return rng.normal(0.0, 0.5, a.shape).astype(np.float32)
        return (a + rng.normal(0.0, 0.1, a.shape)).astype(np.float32)
    v = jax.tree_util.tree_map_with_path(draw, v)
    # XLA explicitly: ONNX Runtime is the default wherever it is installed.
    return lmk.Predictor("tiny", num_landmarks, size, v, "68", runtime="xla"), v


@needs_ort
def test_onnx_runtime_computes_what_xla_computes():
    xla, variables = _random_mobilenet()
    ort = lmk.Predictor("tiny", 68, 64, variables, "68", runtime="onnxruntime")
    rng = np.random.default_rng(1)
    # Crops of different brightness and texture: pooled features, and so the outputs, differ between them.
    mixed = np.stack([rng.integers(lo, hi, (64, 64, 3)) for lo, hi in ((0, 60), (100, 256), (0, 256))]).astype(np.uint8)
    for crops in (mixed[:1], mixed, (mixed[1:] / 255.0).astype(np.float32)):
        mu_x, sigma_x = (np.asarray(a) for a in xla(crops))
        mu_o, sigma_o = ort(crops)
        assert mu_o.shape == mu_x.shape and sigma_o.shape == sigma_x.shape
        # float32 through ~20 layers in another order of operations: agreement to 1e-3 px at 64 px.
        np.testing.assert_allclose(mu_o, mu_x, atol=1e-3)
        np.testing.assert_allclose(sigma_o, sigma_x, rtol=1e-4)
    # uint8 crops run the uint8-input graph (cast and scaled inside it), with the float graph's outputs
    # for the same crops scaled as numpy scales them: the same float32 product, so equal bit for bit.
    assert ort._onnx.uint8_session is not None
    as_float = mixed.astype(np.float32) * np.float32(1.0 / 255.0)
    np.testing.assert_array_equal(ort._onnx(mixed), ort._onnx.session.run(None, {"crops": as_float})[0])
    # Not a constant function: the comparison above would pass for one.
    mu_x = np.asarray(xla(mixed)[0])
    assert np.abs(mu_x[0] - mu_x[1]).max() > 0.05


@needs_ort
def test_shipped_network_in_onnx_runtime_and_the_tracker_that_uses_it():
    from dlm.product import pipeline
    xla = lmk.Predictor.load("realtime", runtime="xla")    # not shipped(): its default is ONNX Runtime
    ort = lmk.Predictor.load("realtime", runtime="onnxruntime")
    assert (xla.runtime, ort.runtime) == ("xla", "onnxruntime")
    crops = np.random.default_rng(2).integers(0, 256, (4, xla.size, xla.size, 3), dtype=np.uint8)
    np.testing.assert_allclose(ort(crops)[0], np.asarray(xla(crops)[0]), atol=1e-3)
    # With ONNX Runtime the tracked frame calls its network, then the fit (faster than XLA's fused frame
    # program); an XLA predictor's tracker fuses them; asked for, the fused program keeps XLA's network.
    assert pipeline.Tracker((320, 240), ort).fuse is False
    assert pipeline.Tracker((320, 240), xla).fuse is True
    assert pipeline.Tracker((320, 240), ort, fuse=True).fuse is True
    # apply_fn compiled, as the tracker runs it (called eagerly it runs op by op: ~370 tiny compiles).
    np.testing.assert_allclose(np.asarray(jax.jit(ort.apply_fn)(crops)[0]), np.asarray(xla(crops)[0]), atol=1e-4)


def test_runtime_refuses_what_it_cannot_run(monkeypatch, capsys):
    v = nets.init_variables(nets.make_network("tiny", 68), jax.random.key(0))
    with pytest.raises(ValueError, match="runtime must be one of"):
        lmk.Predictor("tiny", 68, 64, v, "68", runtime="tensorrt")
    spatial = nets.init_variables(nets.make_network("mobilenetv2_050_spatial", 68), jax.random.key(0))
    with pytest.raises(ValueError, match="not one it runs"):     # the head that regresses from the feature map
        lmk.Predictor("mobilenetv2_050_spatial", 68, 64, spatial, "68", runtime="onnxruntime")
    monkeypatch.setattr(onnx_runtime, "available", lambda: False)
    assert cli.main(["bench", "predictor", "--runtime", "onnxruntime", "--threads", "0"]) == 2
    assert "needs the onnx and onnxruntime packages" in capsys.readouterr().err


def test_default_runtime_is_onnx_runtime_on_a_cpu_only(monkeypatch):
    """ONNX Runtime (its CPU provider) by default only where JAX computes on the CPU, where it was
    measured faster than XLA; an accelerator keeps the network in XLA there; $DLM_RUNTIME decides
    when set; a network the graph writer does not cover stays in XLA."""
    monkeypatch.delenv("DLM_RUNTIME", raising=False)
    tiny = nets.make_network("tiny", 68)
    spatial = nets.make_network("mobilenetv2_050_spatial", 68)
    assert lmk.default_runtime(tiny) == ("onnxruntime" if onnx_runtime.available() else "xla")
    assert lmk.default_runtime(spatial) == "xla"
    monkeypatch.setattr(jax, "default_backend", lambda: "gpu")
    assert lmk.default_runtime(tiny) == "xla"
    monkeypatch.setenv("DLM_RUNTIME", "onnxruntime")
    assert lmk.default_runtime(tiny) == "onnxruntime"        # asked for: the user's choice stands
    monkeypatch.setenv("DLM_RUNTIME", "tensorrt")
    with pytest.raises(ValueError, match="DLM_RUNTIME must be one of"):
        lmk.default_runtime(tiny)
