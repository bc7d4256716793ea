"""Networks, losses, weights files, the predictor, and a tiny training run that resumes."""
import dataclasses
import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dlm.landmarks import predictor as lmk
from dlm.landmarks import nets
from dlm.train import loop as train


def _vjp_pair(fn, ref, x, k, seed=2):
    """(value, d/dx, d/dk) of fn and of ref at (x, k) under the same random output gradient.
    One jitted program per shape: run op by op, each of the ~30 operations compiled on its own
    (issue 30: these 11 cases were 36 s of a cold run's CPU, most of it eager compiles)."""
    @jax.jit
    def both(x, k):
        y, back = jax.vjp(fn, x, k)
        y_ref, back_ref = jax.vjp(ref, x, k)
        g = jax.random.normal(jax.random.key(seed), y_ref.shape)
        return (y, *back(g)), (y_ref, *back_ref(g))
    return both(x, k)


def _normal(seed, shape):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


# Sizes with odd and even sides, strides 1 and 2, and a 1-pixel image: the SAME padding's
# uneven split and the dilated gradient's edges are where a hand-written form goes wrong.
@pytest.mark.parametrize("stride,h,w", [(1, 9, 10), (2, 9, 10), (2, 8, 8), (1, 5, 6), (2, 1, 1), (2, 2, 3)])
def test_depthwise_equals_grouped_convolution_value_and_gradient(stride, h, w):
    x = _normal(0, (2, h, w, 5))
    k = _normal(1, (3, 3, 5))
    ref = lambda x, k: jax.lax.conv_general_dilated(  # noqa: E731
        x, k[:, :, None, :], (stride, stride), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"),
        feature_group_count=5)
    got, want = _vjp_pair(lambda x, k: nets.depthwise_conv3x3(x, k, stride), ref, x, k)
    # float32 sums of at most 9 * B * H * W products of unit normals: 1e-4 relative is ample.
    for a, b in zip(got, want):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("ksize,stride,h,w", [(1, 1, 6, 7), (1, 2, 7, 6), (3, 1, 6, 7), (3, 2, 7, 8), (7, 2, 9, 9)])
def test_dense_convolution_equals_lax_value_and_gradient(ksize, stride, h, w):
    x = _normal(3, (2, h, w, 4))
    k = _normal(4, (ksize, ksize, 4, 6))
    ref = lambda x, k: jax.lax.conv_general_dilated(  # noqa: E731
        x, k, (stride, stride), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))
    got, want = _vjp_pair(lambda x, k: nets.conv2d(x, k, stride), ref, x, k)
    for a, b in zip(got, want):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-4)


def test_conv_module_has_flax_conv_parameters():
    """Weights trained with flax.linen.Conv load into nets.Conv: same name, shape and output."""
    import flax.linen as nn
    x = jax.random.normal(jax.random.key(5), (1, 8, 8, 3))
    v = nn.Conv(4, (3, 3), strides=2, padding="SAME", use_bias=False).init(jax.random.key(6), x)
    mine = nets.Conv(4, (3, 3), strides=2)
    assert jax.tree_util.tree_map(jnp.shape, mine.init(jax.random.key(6), x)) == \
        jax.tree_util.tree_map(jnp.shape, v)
    want = nn.Conv(4, (3, 3), strides=2, padding="SAME", use_bias=False).apply(v, x)
    np.testing.assert_allclose(np.asarray(mine.apply(v, x)), np.asarray(want), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", ["tiny", "resnet18"])
def test_networks_output_three_numbers_per_landmark(name):
    net = nets.make_network(name, 7)
    v = nets.init_variables(net, jax.random.key(0))
    out = jax.jit(net.apply)(v, jnp.zeros((2, 64, 64, 3)))
    assert out.shape == (2, 7, 3)
    # Starts at the crop centre with sigma a tenth of the crop.
    np.testing.assert_allclose(np.asarray(out[..., 2]), np.log(0.2), atol=0.05)


def test_gnll_is_eq1_and_prefers_calibrated_sigma():
    target = jnp.zeros((1, 2, 2))
    out = jnp.array([[[0.3, 0.4, np.log(0.5)], [0.0, 0.0, 0.0]]])
    w = jnp.array([1.0, 3.0])
    # By hand: lambda_1 (log 0.25 + 0.25 / (2 * 0.25)) + lambda_2 (log 1 + 0), over L = 2.
    want = (1.0 * (np.log(0.25) + 0.5) + 3.0 * 0.0) / 2
    np.testing.assert_allclose(float(lmk.gnll_loss(out, target, w)), want, rtol=1e-5)
    # For an error of 0.5 the loss is lowest at sigma = 0.5 / sqrt(2).
    errs = [float(lmk.gnll_loss(jnp.array([[[0.5, 0.0, np.log(s)]]]), jnp.zeros((1, 1, 2)), jnp.ones(1)))
            for s in (0.2, 0.5 / np.sqrt(2), 0.8)]
    assert errs[1] < errs[0] and errs[1] < errs[2]
    assert lmk.landmark_weights(["eye", "head"]).mean() == pytest.approx(1.0)


def test_region_weights_override_the_table_by_name_and_refuse_unknown_regions():
    names = ["jaw", "jaw", "face", "eye", "head"]
    base = lmk.landmark_weights(names)
    np.testing.assert_allclose(base * np.mean([1, 1, 1, 2, 0.5]), [1, 1, 1, 2, 0.5], rtol=1e-6)   # REGION_WEIGHTS
    w = lmk.landmark_weights(names, {"jaw": 3.0})
    assert w.mean() == pytest.approx(1.0)
    np.testing.assert_allclose(w * np.mean([3, 3, 1, 2, 0.5]), [3, 3, 1, 2, 0.5], rtol=1e-6)
    with pytest.raises(ValueError, match="chin: no such region"):
        lmk.landmark_weights(names, {"chin": 2.0})
    with pytest.raises(ValueError, match=">= 0"):
        lmk.landmark_weights(names, {"jaw": -1.0})
    # The training config carries them (None: the table), and old runs' configs resume without them.
    from dlm.train import loop
    assert loop.TrainConfig().region_weights is None
    cfg = loop.TrainConfig.from_dict(dict(region_weights={"jaw": 3.0}))
    assert loop.resumes_same_run({}, loop.TrainConfig()) and not loop.resumes_same_run({}, cfg)


def test_weights_roundtrip_and_corruption(tmp_path):
    net = nets.make_network("tiny", 68)
    v = nets.init_variables(net, jax.random.key(0))
    cfg = dict(network="tiny", num_landmarks=68, size=64, landmark_set="68", loss="gnll")
    path = tmp_path / "w.npz"
    lmk.save_weights(path, v, cfg, metrics=dict(nme=0.1))
    pred = lmk.Predictor.load(path)
    # Half precision on disk: every loaded array is the saved one rounded to float16.
    saved, loaded = jax.tree_util.tree_leaves_with_path(v), jax.tree_util.tree_leaves_with_path(pred.variables)
    assert [k for k, _ in saved] == [k for k, _ in loaded]
    for (_, a), (_, b) in zip(saved, loaded):
        np.testing.assert_array_equal(np.asarray(a, np.float16).astype(np.float32), np.asarray(b))
    img = np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8)
    mu, sigma = lmk.predict_landmarks(img, model=pred)
    assert mu.shape == (68, 2) and sigma.shape == (68,) and (sigma > 0).all()
    mu2, _ = lmk.predict_landmarks(np.repeat(np.repeat(img, 2, 0), 2, 1), model=pred)  # 128 px crop
    assert np.abs(mu2 / 2 - mu).max() < 2.0
    with pytest.raises(ValueError, match="square"):
        lmk.predict_landmarks(img[:, :50], model=pred)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(lmk.WeightsError, match="sha256"):
        lmk.Predictor.load(path)
    m = json.loads(path.with_suffix(".json").read_text())
    m["config"]["num_landmarks"] = 320
    lmk.save_weights(path, v, m["config"])
    with pytest.raises(lmk.WeightsError, match="do not fit"):
        lmk.Predictor.load(path)


def test_network_shapes_are_flax_own_and_kept_in_the_cache(tmp_path, monkeypatch):
    """The load-time shape check reads the network's parameter shapes from the cache after the
    first trace (a new process skips flax's init); they are what flax's init makes; a corrupt
    file is traced again; another network or size names another file."""
    monkeypatch.setenv("DLM_CACHE", str(tmp_path))
    net = nets.make_network("tiny", 68)
    traced = jax.eval_shape(lambda: net.init(jax.random.key(0), jnp.zeros((1, 64, 64, 3))))
    want = lmk._flatten(traced, leaf=lambda a: list(a.shape))
    assert lmk.network_shapes(net, "tiny", 68, 64) == want
    files = list((tmp_path / "network_shapes").iterdir())
    assert len(files) == 1
    monkeypatch.setattr(jax, "eval_shape", lambda *a, **k: pytest.fail("traced again"))
    assert lmk.network_shapes(net, "tiny", 68, 64) == want
    monkeypatch.undo()
    monkeypatch.setenv("DLM_CACHE", str(tmp_path))
    files[0].write_text("{not json")
    assert lmk.network_shapes(net, "tiny", 68, 64) == want
    lmk.network_shapes(net, "tiny", 68, 96)
    assert len(list((tmp_path / "network_shapes").iterdir())) == 2


def test_quick_training_resumes_exactly(tmp_path, model):
    """The first run goes through the command (`dlm train --steps --workdir --json`), the
    second through the library, stopped and resumed: the same losses after the restart."""
    from dlm.cli import main as cli
    cfg = train.load_config("experiments/configs/quick.py")
    cfg.steps = 10
    a = tmp_path / "a"
    # --quick: any config's folder, quick.py from it (what the command's help offers for tests).
    assert cli.main(["--quiet", "train", "experiments/configs/offline_mnv2100_703.py", "--quick", "--workdir", str(a),
                     "--steps", "10", "--json", str(tmp_path / "a.json")]) == 0
    res = json.loads((tmp_path / "a.json").read_text())
    assert res["workdir"] == str(a) and 0 < res["test"]["nme"] < 10
    assert json.loads((a / "weights.json").read_text())["train_config"]["steps"] == 10
    assert json.loads((a / "weights.json").read_text())["train_config"]["name"] == cfg.name
    full = [json.loads(x) for x in (a / "metrics.jsonl").read_text().splitlines()]
    # The same run stopped after step 5 and restarted: identical losses afterwards.
    b = tmp_path / "b"
    assert train.train_and_evaluate(cfg, b, quiet=True, stop_at=5) is None
    assert not (b / "weights.npz").exists()
    with pytest.raises(ValueError):  # a workdir remembers its config
        train.train_and_evaluate(train.TrainConfig(network="tiny", size=32), b, quiet=True)
    # A run saved before a config field existed still resumes (the field counts as its default).
    saved = json.loads((b / "config.json").read_text())
    (b / "config.json").write_text(json.dumps({k: v for k, v in saved.items() if k != "dataset"}))
    train.train_and_evaluate(cfg, b, quiet=True)
    resumed = [json.loads(x) for x in (b / "metrics.jsonl").read_text().splitlines()]
    loss = lambda recs, s: [r["loss"] for r in recs if r.get("step") == s and "loss" in r]  # noqa: E731
    assert loss(full, 10) and loss(resumed, 10)
    np.testing.assert_allclose(loss(resumed, 10)[-1], loss(full, 10)[-1], rtol=1e-4)
    pred = lmk.Predictor.load(b / "weights.npz")
    assert pred.manifest["metrics"]["steps"] == 10 and "nme" in pred.manifest["metrics"]["test"]


def test_a_run_resumes_only_with_its_own_config():
    """A workdir's config.json against a new config: the step count and the start (init_from,
    init_backbone) may change, a
    field added since counts as its default, a field removed since is ignored, anything else is
    another run."""
    cfg = train.TrainConfig(name="t", steps=100)
    saved = json.loads(json.dumps(dataclasses.asdict(cfg)))
    assert train.resumes_same_run(saved, cfg)
    assert train.resumes_same_run(saved, dataclasses.replace(cfg, steps=500, init_from="realtime"))
    assert train.resumes_same_run(dict(saved, init_backbone="imagenet.npz"), dataclasses.replace(cfg, init_from="c.npz"))
    assert train.resumes_same_run(dict(saved, render_workers=1), cfg)          # removed field
    added = {k: v for k, v in saved.items() if k != "rewarm_steps"}
    assert train.resumes_same_run(added, cfg)                                  # added field, default value
    assert not train.resumes_same_run(added, dataclasses.replace(cfg, rewarm_steps=7))
    assert not train.resumes_same_run(saved, dataclasses.replace(cfg, lr=0.123))
    assert not train.resumes_same_run(saved, dataclasses.replace(cfg, pool="elsewhere"))


def test_a_network_can_fit_one_batch(model):
    """Overfitting 16 renders must beat the mean shape by far (a block that silenced the signal
    once left every prediction at the mean)."""
    from dlm.synth import render as synth
    cfg = train.TrainConfig(network="tiny", size=64, batch_size=16, landmark_set="68", loss="l2")
    state = train.create_train_state(cfg, jax.random.key(0))
    b = next(synth.batches(0, 16, 64, "68", model=model))
    for _ in range(40):
        state, m = train.train_step(state, b["image"], b["landmarks"], jnp.ones(68), jnp.float32(3e-3), "l2", 64)
    mean_shape = np.linalg.norm(b["landmarks"] - b["landmarks"].mean(0), axis=-1).mean()
    assert float(m["mean_error_px"]) < 0.3 * mean_shape


def test_shipped_realtime_weights_load_and_predict():
    pred = lmk.Predictor.load("realtime")
    assert pred.num_landmarks == 320 and pred.size == 128 and pred.landmark_set == "320"
    mu, sigma = lmk.predict_landmarks(np.full((200, 200, 3), 128, np.uint8), model="realtime")
    assert mu.shape == (320, 2) and np.isfinite(mu).all() and (sigma > 0).all()
    # Calls compile the weights in as constants (Predictor.apply_fn); the result must be the pure
    # function's with the weights as arguments, to float32 rounding (XLA may fold and reorder
    # the constant arithmetic: ~3e-5 px seen on 128-px crops), and must follow the weights.
    crops = np.random.default_rng(0).integers(0, 256, (2, 128, 128, 3), np.uint8)
    want = jax.jit(pred.predict_fn)(pred.variables, crops)
    for got in (pred(crops), jax.jit(pred.apply_fn)(crops)):
        np.testing.assert_allclose(got[0], want[0], atol=1e-3)
        np.testing.assert_allclose(got[1], want[1], rtol=1e-4)
    other = lmk.Predictor(pred.network, pred.num_landmarks, pred.size,
                          jax.tree_util.tree_map(lambda a: a * 0.5, pred.variables), pred.landmark_set)
    assert np.abs(np.asarray(other(crops)[0]) - np.asarray(want[0])).max() > 1.0



IMAGENET = Path(__file__).resolve().parents[1] / "third_party" / "imagenet_mobilenetv2"


def test_imagenet_backbone_classifies_as_imagenet_does():
    """The converted torchvision MobileNetV2 in dlm's network: scikit-image's cat is a cat (ImageNet
    281-285) and its coffee a cup or espresso (967-968), as at conversion."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("convert_imagenet", IMAGENET / "convert.py")
    convert = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(convert)
    with np.load(IMAGENET / "mobilenetv2_imagenet.npz") as z:
        arrays = {k: z[k] for k in z.files}
    images, allowed = convert.sample_images()
    top = convert.imagenet_logits(arrays, images).argmax(1)
    assert all(int(t) in a for t, a in zip(top, allowed)), top


def test_init_backbone_loads_every_array_but_the_head():
    cfg = train.TrainConfig(network="mobilenetv2", landmark_set="68", size=64)
    state = train.create_train_state(cfg, jax.random.key(0))
    loaded = train.init_backbone(state, "third_party/imagenet_mobilenetv2/mobilenetv2_imagenet.npz")
    with np.load(IMAGENET / "mobilenetv2_imagenet.npz") as z:
        np.testing.assert_array_equal(np.asarray(loaded.params["Conv_0"]["kernel"]),
                                      z["params/Conv_0/kernel"].astype(np.float32))
        np.testing.assert_array_equal(np.asarray(loaded.batch_stats["InvertedResidual_16"]["BatchNorm_2"]["var"]),
                                      z["batch_stats/InvertedResidual_16/BatchNorm_2/var"].astype(np.float32))
    for a, b in zip(jax.tree_util.tree_leaves(state.params["LandmarkHead_0"]),
                    jax.tree_util.tree_leaves(loaded.params["LandmarkHead_0"])):
        np.testing.assert_array_equal(a, b)
    small = train.create_train_state(dataclasses.replace(cfg, network="mobilenetv2_050"), jax.random.key(0))
    with pytest.raises(ValueError, match="network's is"):
        train.init_backbone(small, IMAGENET / "mobilenetv2_imagenet.npz")


def test_spatial_head_sees_where_features_are_and_takes_a_trained_backbone():
    """mobilenetv2_050_spatial: the head regresses from the whole last feature map (1 x 1 reduction,
    flattened), so moving a feature within the map changes the output, where the pooled head's mean
    cannot tell the two apart; every other array is mobilenetv2_050's, so the shipped real-time
    backbone loads into it (init_backbone) and only the head starts anew."""
    head = nets.LandmarkHead(5, spatial=3)
    fmap = np.zeros((1, 2, 2, 4), np.float32)
    fmap[0, 0, 0, 1] = 1.0
    moved = np.roll(fmap, 1, axis=2)
    v = head.init(jax.random.key(0), jnp.asarray(fmap))
    assert v["params"]["reduce"].shape == (1, 1, 4, 3) and v["params"]["Dense_0"]["kernel"].shape == (2 * 2 * 3, 15)
    v = jax.tree_util.tree_map(lambda a: jax.random.normal(jax.random.key(1), a.shape), v)
    a, b = (np.asarray(head.apply(v, jnp.asarray(x))) for x in (fmap, moved))
    assert a.shape == (1, 5, 3) and np.abs(a - b).max() > 1e-3
    pooled = nets.LandmarkHead(5)
    vp = pooled.init(jax.random.key(0), jnp.zeros((1, 4)))
    np.testing.assert_array_equal(pooled.apply(vp, fmap.mean((1, 2))), pooled.apply(vp, moved.mean((1, 2))))
    cfg = train.TrainConfig(network="mobilenetv2_050_spatial", landmark_set="320", size=64)
    state = train.create_train_state(cfg, jax.random.key(0))
    shipped = lmk.WEIGHTS_DIR / "realtime_mnv2050_320.npz"
    loaded = train.init_backbone(state, shipped)
    with np.load(shipped) as z:
        np.testing.assert_array_equal(np.asarray(loaded.params["Conv_1"]["kernel"]),
                                      z["params/Conv_1/kernel"].astype(np.float32))
    for x, y in zip(jax.tree_util.tree_leaves(state.params["LandmarkHead_0"]),
                    jax.tree_util.tree_leaves(loaded.params["LandmarkHead_0"])):
        np.testing.assert_array_equal(x, y)


def _perturbed(variables):
    """Every variable moved by 0.1 x a normal draw (fixed key): blocks and channels that trained
    networks would tell apart, so one mapped to the wrong place shows."""
    leaves, tree = jax.tree_util.tree_flatten(variables)
    keys = jax.random.split(jax.random.key(1), len(leaves))
    return jax.tree_util.tree_unflatten(tree, [x + 0.1 * jax.random.normal(k, x.shape) for x, k in zip(leaves, keys)])


def test_removing_a_residual_block_whose_branch_is_zero_keeps_the_function():
    """`nets.remove_blocks`: a network whose removed blocks' branches output zeros (their last
    batch norm's scale and offset zeroed) computes what the smaller network with the rest of the
    weights, renumbered, computes; every other weight perturbed, so a block mapped to the wrong
    place would show."""
    blocks = ((1, 8, 1, 1), (2, 8, 3, 2), (2, 16, 2, 2))
    big = nets.MobileNetV2(num_landmarks=5, width=1.0, last_features=16, blocks=blocks)
    v = nets.init_variables(big, jax.random.key(0), size=16)
    v = _perturbed(v)
    for i in (2, 5):   # the second stage's third block, the third stage's second
        bn = dict(v["params"][f"InvertedResidual_{i}"])
        last = max(k for k in bn if k.startswith("BatchNorm_"))
        bn[last] = {"scale": jnp.zeros_like(bn[last]["scale"]), "bias": jnp.zeros_like(bn[last]["bias"])}
        v["params"][f"InvertedResidual_{i}"] = bn
    small_v, table = nets.remove_blocks(v, blocks, [2, 5])
    assert table == ((1, 8, 1, 1), (2, 8, 2, 2), (2, 16, 1, 2))
    small = nets.MobileNetV2(num_landmarks=5, width=1.0, last_features=16, blocks=table)
    x = jax.random.uniform(jax.random.key(2), (2, 16, 16, 3))
    small_apply, big_apply = jax.jit(small.apply), jax.jit(big.apply)   # not op by op (~190 programs: issue 30)
    np.testing.assert_allclose(np.asarray(small_apply(small_v, x)), np.asarray(big_apply(v, x)), rtol=1e-5, atol=1e-5)
    # With the branch not zeroed the two differ: the test sees the removed block.
    v["params"]["InvertedResidual_2"] = v["params"]["InvertedResidual_3"]
    assert not np.allclose(np.asarray(small_apply(nets.remove_blocks(v, blocks, [2, 5])[0], x)),
                           np.asarray(big_apply(v, x)), atol=1e-3)
    for bad in (0, 1, 4, 6):   # the first block of a stage, or past the end
        with pytest.raises(ValueError, match="not a residual block"):
            nets.remove_blocks(v, blocks, [bad])


def test_inserting_residual_blocks_keeps_the_function():
    """`nets.insert_blocks`: a network grown by blocks that start as the identity (a fresh
    network's residual blocks: last batch-norm scale zero) computes what the old one does, every
    old weight perturbed so that a block moved to the wrong place shows; with the new blocks'
    branches not zero the outputs differ (the new blocks are in the path), and a table that drops a
    block or changes a stage is refused."""
    blocks = ((1, 8, 1, 1), (2, 8, 2, 2), (2, 16, 2, 2))
    table = ((1, 8, 1, 1), (2, 8, 4, 2), (2, 16, 3, 2))
    old = nets.MobileNetV2(num_landmarks=5, width=1.0, last_features=16, blocks=blocks)
    big = nets.MobileNetV2(num_landmarks=5, width=1.0, last_features=16, blocks=table)
    v = nets.init_variables(old, jax.random.key(0), size=16)
    v = _perturbed(v)
    fresh = nets.init_variables(big, jax.random.key(3), size=16)
    grown = nets.insert_blocks(v, blocks, fresh, table)
    assert sorted(grown["params"]) == sorted(fresh["params"])
    # Old blocks 0, 1, 2, 3, 4 go to 0, 1, 2, 5, 6; 3, 4 and 7 are new.
    for i, j in ((1, 1), (2, 2), (3, 5), (4, 6)):
        np.testing.assert_array_equal(grown["params"][f"InvertedResidual_{j}"]["Conv_0"]["kernel"],
                                      v["params"][f"InvertedResidual_{i}"]["Conv_0"]["kernel"])
    x = jax.random.uniform(jax.random.key(2), (2, 16, 16, 3))
    old_apply, big_apply = jax.jit(old.apply), jax.jit(big.apply)
    np.testing.assert_allclose(np.asarray(big_apply(grown, x)), np.asarray(old_apply(v, x)), rtol=1e-5, atol=1e-5)
    for i in (3, 4, 7):
        bn = dict(grown["params"][f"InvertedResidual_{i}"])
        last = max(k for k in bn if k.startswith("BatchNorm_"))
        bn[last] = dict(bn[last], scale=jnp.full_like(bn[last]["scale"], 0.5))
        grown["params"][f"InvertedResidual_{i}"] = bn
    assert not np.allclose(np.asarray(big_apply(grown, x)), np.asarray(old_apply(v, x)), atol=1e-3)
    for bad in (((1, 8, 1, 1), (2, 8, 1, 2), (2, 16, 3, 2)), ((1, 8, 1, 1), (2, 8, 2, 2), (2, 24, 2, 2)),
                ((1, 8, 1, 1), (2, 8, 2, 2))):
        with pytest.raises(ValueError, match="with blocks added"):
            nets.insert_blocks(v, blocks, fresh, bad)


def test_widening_expansions_keeps_the_function():
    """`nets.widen_blocks`: a network whose blocks get more expanded channels (their projection rows
    zero) computes what the old one does, every old weight perturbed so that a channel moved to the
    wrong place shows; with the new rows not zero the outputs differ (the new channels are in the
    path), and a table that narrows a stage or changes its channels is refused."""
    blocks = ((1, 8, 1, 1), (2, 8, 2, 2), (2, 16, 2, 2))
    table = ((1, 8, 1, 1), (3, 8, 2, 2), (2, 16, 2, 2))
    old = nets.MobileNetV2(num_landmarks=5, width=1.0, last_features=16, blocks=blocks)
    wide = nets.MobileNetV2(num_landmarks=5, width=1.0, last_features=16, blocks=table)
    v = nets.init_variables(old, jax.random.key(0), size=16)
    v = _perturbed(v)
    v["batch_stats"] = jax.tree_util.tree_map(jnp.abs, v["batch_stats"])    # variances stay positive
    fresh = nets.init_variables(wide, jax.random.key(3), size=16)
    grown = nets.widen_blocks(v, blocks, fresh, table)
    assert jax.tree_util.tree_map(jnp.shape, grown) == jax.tree_util.tree_map(jnp.shape, fresh)
    np.testing.assert_array_equal(grown["params"]["InvertedResidual_1"]["Conv_0"]["kernel"][..., :16],
                                  v["params"]["InvertedResidual_1"]["Conv_0"]["kernel"])
    x = jax.random.uniform(jax.random.key(2), (2, 16, 16, 3))
    old_apply, wide_apply = jax.jit(old.apply), jax.jit(wide.apply)
    np.testing.assert_allclose(np.asarray(wide_apply(grown, x)), np.asarray(old_apply(v, x)), rtol=1e-5, atol=1e-5)
    k = np.array(grown["params"]["InvertedResidual_2"]["Conv_1"]["kernel"])
    k[:, :, 16:] = 1.0
    grown["params"]["InvertedResidual_2"]["Conv_1"]["kernel"] = k
    # (this toy network's activations are small there: the same tolerance as above tells them apart)
    assert not np.allclose(np.asarray(wide_apply(grown, x)), np.asarray(old_apply(v, x)), rtol=1e-5, atol=1e-5)
    for bad in (((1, 8, 1, 1), (1, 8, 2, 2), (2, 16, 2, 2)), ((1, 8, 1, 1), (3, 12, 2, 2), (2, 16, 2, 2)),
                ((2, 8, 1, 1), (2, 8, 2, 2), (2, 16, 2, 2))):
        with pytest.raises(ValueError, match="wider expansions"):
            nets.widen_blocks(v, blocks, fresh, bad)


def test_removing_last_channels_that_are_constant_keeps_the_function():
    """`nets.remove_last_channels`: channels of the last 1 x 1 convolution that are one constant for
    every image (batch-norm scale 0, offset c in (0, 6), so c after ReLU6) removed with that constant
    folded into the head's bias: the narrower network computes what the wide one does.  With the
    wrong means the outputs differ."""
    blocks = ((1, 8, 1, 1), (2, 8, 2, 2))
    wide = nets.MobileNetV2(num_landmarks=5, width=1.0, last_features=16, blocks=blocks)
    v = nets.init_variables(wide, jax.random.key(0), size=16)
    v = _perturbed(v)
    gone = np.array([1, 2, 4, 5, 9, 11, 12, 15])   # 8 left: channel counts round to multiples of 8
    keep = np.setdiff1d(np.arange(16), gone)
    const = np.linspace(0.5, 2.0, len(gone))
    bn = {k: np.array(a) for k, a in v["params"]["BatchNorm_1"].items()}
    bn["scale"][gone], bn["bias"][gone] = 0.0, const
    v["params"]["BatchNorm_1"] = bn
    means = np.zeros(16)
    means[gone] = const
    narrow_v = nets.remove_last_channels(v, keep, means)
    narrow = nets.MobileNetV2(num_landmarks=5, width=1.0, last_features=len(keep), blocks=blocks)
    x = jax.random.uniform(jax.random.key(2), (2, 16, 16, 3))
    want = np.asarray(wide.apply(v, x))
    np.testing.assert_allclose(np.asarray(narrow.apply(narrow_v, x)), want, rtol=1e-5, atol=1e-5)
    wrong = nets.remove_last_channels(v, keep, np.zeros(16))
    assert not np.allclose(np.asarray(narrow.apply(wrong, x)), want, atol=1e-3)
