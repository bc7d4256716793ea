"""The training loop (dlm.train.loop): resuming exactly, continuing from weights, campaigns,
equal-sample stops, augmentation overrides."""
import dataclasses
import json
from pathlib import Path

import jax
import numpy as np
import pytest

from dlm.synth import dataset as synth_dataset
from dlm.synth import pool
from dlm.train import loop as train

QUICK_CONFIG = Path(__file__).resolve().parents[1] / "experiments" / "configs" / "quick.py"


def test_training_from_a_dataset_resumes_exactly(tmp_path, model):
    """`dataset` trains on a `dlm synth` folder (epochs of seeded orders) and resumes like rendering."""
    data = tmp_path / "data"
    synth_dataset.write_dataset(data, 6, 64, 3, "all")
    cfg = dataclasses.replace(train.load_config(QUICK_CONFIG), steps=6, dataset=str(data),
                              batch_size=4, lr=1e-3, test_num=4, log_every=1, eval_every=6, checkpoint_every=2)
    train.train_and_evaluate(cfg, tmp_path / "a", quiet=True)
    assert train.train_and_evaluate(cfg, tmp_path / "b", quiet=True, stop_at=3) is None
    train.train_and_evaluate(cfg, tmp_path / "b", quiet=True)
    read = lambda d: {r["step"]: r["loss"] for r in map(json.loads, (tmp_path / d / "metrics.jsonl").read_text().splitlines()) if "loss" in r}  # noqa: E501,E731
    a, b = read("a"), read("b")
    assert sorted(a) == list(range(1, 7)) and a[1] != a[2]
    np.testing.assert_allclose([b[s] for s in (4, 5, 6)], [a[s] for s in (4, 5, 6)], rtol=1e-4)
    with pytest.raises(ValueError, match="px"):
        train.train_and_evaluate(dataclasses.replace(cfg, size=32), tmp_path / "c", quiet=True)


def test_training_continues_from_weights_on_a_pool(tmp_path, model):
    """A run on a pool, started from another run's weights: the manifest adds the samples seen and
    keeps the chain of runs."""
    import json
    from dlm.landmarks import predictor as lmk
    from dlm.train import loop as train
    pool.write_pool(tmp_path / "pool", 16, size=80, seed=1, crop_scale=0.8, workers=1)
    base = dict(name="first", network="tiny", landmark_set="68", size=64, batch_size=8, steps=4, lr=1e-3,
                warmup_steps=1, test_num=8, eval_every=4, checkpoint_every=2, log_every=2,
                pool=str(tmp_path / "pool"), real_eval_dir=None)
    train.train_and_evaluate(train.TrainConfig(**base), tmp_path / "one", quiet=True)
    first = json.loads((tmp_path / "one" / "weights.json").read_text())
    assert first["samples_seen"] == 32 and first["pool"]["num"] == 16 and len(first["chain"]) == 1
    cfg = train.TrainConfig(**dict(base, name="second", steps=2, init_from=str(tmp_path / "one" / "weights.npz")))
    train.train_and_evaluate(cfg, tmp_path / "two", quiet=True)
    second = json.loads((tmp_path / "two" / "weights.json").read_text())
    assert second["samples_seen"] == 32 + 16
    assert [r["name"] for r in second["chain"]] == ["first", "second"]
    assert second["cpu_hours"] >= first["cpu_hours"] > 0
    lmk.Predictor.load(tmp_path / "two" / "weights.npz")
    # At rate 0 the parameters stay where the run started: exactly the first run's weights.
    cfg = train.TrainConfig(**dict(base, name="frozen", steps=2, lr=0.0, init_from=str(tmp_path / "one" / "weights.npz")))
    train.train_and_evaluate(cfg, tmp_path / "frozen", quiet=True)
    start, _ = lmk.load_weights(tmp_path / "one" / "weights.npz")
    frozen, _ = lmk.load_weights(tmp_path / "frozen" / "weights.npz")
    for a, b in zip(jax.tree_util.tree_leaves(start["params"]), jax.tree_util.tree_leaves(frozen["params"])):
        np.testing.assert_array_equal(a, b)


def test_a_campaign_resumes_its_schedule_from_the_chain_and_keeps_a_time_budget(tmp_path, model):
    """campaign=True: the schedule is read at the chain's step (samples in the init_from manifest
    over the batch size, plus this run's), ramped over rewarm_steps for the fresh optimiser; a
    wall-clock budget ends a run with its weights exported and session.json written; the
    campaign line adds up the chain."""
    import optax
    from dlm.landmarks import predictor as lmk
    from dlm.train import campaign
    pool.write_pool(tmp_path / "pool", 16, size=80, seed=1, crop_scale=0.8, workers=1)
    base = dict(name="first", network="tiny", landmark_set="68", size=64, batch_size=8, steps=4, lr=1e-3,
                warmup_steps=2, test_num=8, eval_every=100, checkpoint_every=2, log_every=1,
                pool=str(tmp_path / "pool"), real_eval_dir=None)
    train.train_and_evaluate(train.TrainConfig(**base), tmp_path / "one", quiet=True)   # 32 samples: 4 chain steps
    # until: a probe's equal-sample stop, ended as at the schedule's end (evaluated and exported)
    # with the rate still the 4-step schedule's; a run past it is refused.
    test = train.train_and_evaluate(train.TrainConfig(**base), tmp_path / "until", quiet=True, until=2)
    recs = [json.loads(x) for x in (tmp_path / "until" / "metrics.jsonl").read_text().splitlines()]
    first = optax.warmup_cosine_decay_schedule(0.0, 1e-3, 2, 4, end_value=1e-5)
    assert [r["step"] for r in recs if "lr" in r] == [1, 2] and test is not None
    np.testing.assert_allclose([r["lr"] for r in recs if "lr" in r], [float(first(1)), float(first(2))], rtol=1e-6)
    until = json.loads((tmp_path / "until" / "weights.json").read_text())
    assert until["samples_seen"] == 16 and until["metrics"]["test"]["nme"] == test["nme"]
    with pytest.raises(ValueError, match="past until=1"):
        train.train_and_evaluate(train.TrainConfig(**base), tmp_path / "until", quiet=True, until=1)
    cfg = train.TrainConfig(**dict(base, name="campaign", steps=8, campaign=True, rewarm_steps=2,
                                   init_from=str(tmp_path / "one" / "weights.npz")))
    # A budget already spent: no step, but the weights, session and line are written all the same.
    train.train_and_evaluate(cfg, tmp_path / "spent", quiet=True, minutes=1e-9)
    spent = json.loads((tmp_path / "spent" / "session.json").read_text())
    assert spent["samples"] == 0 and spent["end_step"] == 0 and spent["chain_step"] == 4
    assert json.loads((tmp_path / "spent" / "weights.json").read_text())["samples_seen"] == 32
    # With time to spare it trains the campaign's remaining 8 - 4 steps, and no more.
    train.train_and_evaluate(cfg, tmp_path / "two", quiet=True, minutes=60)
    recs = [json.loads(x) for x in (tmp_path / "two" / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in recs if "lr" in r]
    assert [r["step"] for r in steps] == [1, 2, 3, 4] and [r["chain_step"] for r in steps] == [5, 6, 7, 8]
    schedule = optax.warmup_cosine_decay_schedule(0.0, 1e-3, 2, 8, end_value=1e-5)
    want = [float(schedule(4 + s)) * min(1.0, (s + 1) / 2) for s in (1, 2, 3, 4)]
    np.testing.assert_allclose([r["lr"] for r in steps], want, rtol=1e-6)
    manifest = json.loads((tmp_path / "two" / "weights.json").read_text())
    assert manifest["samples_seen"] == 64 and [r["name"] for r in manifest["chain"]] == ["first", "campaign"]
    line = campaign.campaign_line(tmp_path / "two")
    assert line["samples_session"] == 32 and line["samples_total"] == 64 and line["steps_session"] == 4
    assert line["chain_step"] == 8 and line["synthetic_nme"] == manifest["metrics"]["test"]["nme"]
    assert line["dev_nme_balanced"] is None and line["dev_nme_yaw_bins"] is None and line["images_per_s"] > 0
    assert line["cpu"] and line["device"] is None and line["cpu_hours_session"] > 0
    # A session on an accelerator (its export names the device) records device hours and the dev
    # figures it was given (the photos are scored on the CPU afterwards), no CPU hours.
    m = dict(manifest, chain=manifest["chain"][:-1] + [dict(manifest["chain"][-1], device="NVIDIA H200")])
    (tmp_path / "two" / "weights.json").write_text(json.dumps(m))
    session = json.loads((tmp_path / "two" / "session.json").read_text())
    bins = {"0-30": 0.05, "30-60": 0.07, "60-90": 0.09}
    gpu = campaign.campaign_line(tmp_path / "two", real=dict(dir="dev", nme_balanced=0.07, yaw_bins=bins))
    assert gpu["device"] == "NVIDIA H200" and gpu["cpu"] is None and gpu["cpu_hours_session"] == 0.0
    assert gpu["device_hours_session"] == round(session["train_seconds"] / 3600, 4) and gpu["dev_nme_balanced"] == 0.07
    assert gpu["dev_nme_yaw_bins"] == bins
    (tmp_path / "two" / "weights.json").write_text(json.dumps(manifest))
    log = tmp_path / "campaign.jsonl"
    campaign.append_line(log, line)
    campaign.append_line(log, dict(line, samples_session=0))
    assert [json.loads(x)["samples_session"] for x in log.read_text().splitlines()] == [32, 0]
    # Rerun: the campaign is complete, nothing more is trained.
    train.train_and_evaluate(cfg, tmp_path / "two", quiet=True)
    assert json.loads((tmp_path / "two" / "session.json").read_text())["samples"] == 0
    # A new campaign on those weights (campaign_start_samples: what they had seen when it began)
    # reads its own schedule from its step 0; weights that saw fewer samples are not its own.
    nxt = dict(base, name="next", steps=2, campaign=True, rewarm_steps=1, init_from=str(tmp_path / "two" / "weights.npz"))
    train.train_and_evaluate(train.TrainConfig(**nxt, campaign_start_samples=64), tmp_path / "next", quiet=True)
    recs = [json.loads(x) for x in (tmp_path / "next" / "metrics.jsonl").read_text().splitlines()]
    own = optax.warmup_cosine_decay_schedule(0.0, 1e-3, 1, 2, end_value=1e-5)   # warmup min(2, 2 // 4 + 1)
    assert [r["chain_step"] for r in recs if "lr" in r] == [1, 2]
    np.testing.assert_allclose([r["lr"] for r in recs if "lr" in r], [float(own(1)), float(own(2))], rtol=1e-6)
    assert json.loads((tmp_path / "next" / "weights.json").read_text())["samples_seen"] == 80
    with pytest.raises(ValueError, match="fewer than the campaign's start"):
        train.train_and_evaluate(train.TrainConfig(**nxt, campaign_start_samples=65), tmp_path / "other", quiet=True)
    lmk.Predictor.load(tmp_path / "two" / "weights.npz")


def test_augment_overrides_in_a_config_reach_the_pool_draws():
    """TrainConfig.augment sets AugmentRanges fields for pool draws (lists from JSON become the
    tuples the jitted chain hashes); an unknown field is an error naming it."""
    from dlm.synth import augment as aug
    ranges = train.photometric_ranges(train.TrainConfig(augment=dict(aug.CAMERA, sharpen_amount=[0.5, 1.0])))
    assert ranges.sharpen_amount == (0.5, 1.0) and ranges.vignette_prob == aug.CAMERA["vignette_prob"]
    assert ranges.noise_prob == aug.AugmentRanges().noise_prob and hash(ranges)
    assert train.photometric_ranges(train.TrainConfig()) == aug.AugmentRanges()
    assert train.photometric_ranges(train.TrainConfig(pool_photometric=False, augment=aug.CAMERA)) is None
    with pytest.raises(ValueError, match="vignete_prob"):
        train.photometric_ranges(train.TrainConfig(augment=dict(vignete_prob=0.5)))




def _fake_pool(folder: Path, model, n: int = 12, size: int = 48):
    """A pool folder of random pixels and labels (the draws' bookkeeping, not faces, is under test)."""
    from dlm.io.files import write_json
    from dlm.synth import render as synth
    ids = synth.landmark_vertex_ids(model, "all")
    rng = np.random.default_rng(0)
    folder.mkdir()
    np.save(folder / "image.npy", rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8))
    np.save(folder / "landmarks.npy", rng.uniform(8, size - 8, (n, len(ids), 2)).astype(np.float32))
    np.save(folder / "visible.npy", rng.uniform(size=(n, len(ids))) < 0.9)
    np.save(folder / "pose.npy", rng.uniform(-0.6, 0.6, (n, 4, 3)).astype(np.float32))
    write_json(folder / "meta.json", dict(format=pool.FORMAT, num=n, size=size, seed=0, crop_scale=0.8,
                                          vertex_ids=[int(v) for v in ids]))


def test_steps_per_call_on_a_device_pool_equal_single_steps(tmp_path, model):
    """steps_per_call > 1 (the pool in device memory, draw + augment + step scanned in one call)
    trains on the same draws with the same rates as one step per call: the same losses at every
    logged step and the same weights, to float32 rounding (exported in half precision).  Calls stop
    at every log (2), checkpoint (3) and evaluation (6) step: calls of 2, 1, 1, 2 steps here, the
    24 draws of 6 steps of 4 spanning two epochs of the pool's 16 images.  Both draw by a pose
    prior (importance resampling by the pool's poses), so both paths must use its table, and paste
    background faces (CropRanges.distractor_prob), which the host path is checked to apply."""
    from dlm.io.files import write_npz_deterministic
    from dlm.landmarks import predictor as lmk
    _fake_pool(tmp_path / "pool", model, n=16)
    rng = np.random.default_rng(1)
    test = dict(image=rng.integers(0, 256, (4, 32, 32, 3), dtype=np.uint8),
                landmarks=rng.uniform(4, 28, (4, 68, 2)).astype(np.float32), visible=np.ones((4, 68), bool))
    cfg = train.TrainConfig(name="fused", network="tiny", landmark_set="68", size=32, batch_size=4, steps=6, lr=1e-3,
                            warmup_steps=2, pool=str(tmp_path / "pool"), real_eval_dir=None, log_every=2,
                            checkpoint_every=3, eval_every=6, pool_pose_prior=dict(bins=4, pitch_sd_deg=10.0),
                            crops=dict(distractor_prob=0.5))
    with_faces = next(train.training_batches(cfg, cfg.data_seed, 0))
    without = next(train.training_batches(dataclasses.replace(cfg, crops=None), cfg.data_seed, 0))
    np.testing.assert_array_equal(with_faces["landmarks"], without["landmarks"])
    assert (with_faces["image"] != without["image"]).any()
    with pytest.raises(ValueError, match="crops: unknown fields"):
        train.crop_ranges(dataclasses.replace(cfg, crops=dict(distractor=0.5)))
    drawn = train.drawn_pool(cfg)
    assert drawn.draw is not None and len(set(pool.epoch_order(cfg.data_seed, 16, 0, drawn.draw))) < 16
    runs = {}
    for k in (1, 4):
        work = tmp_path / f"k{k}"
        work.mkdir()
        write_npz_deterministic(work / "test_set.npz", test)     # no renderer: the stored test set is used
        train.train_and_evaluate(dataclasses.replace(cfg, steps_per_call=k), work, quiet=True)
        recs = [json.loads(x) for x in (work / "metrics.jsonl").read_text().splitlines()]
        runs[k] = ({r["step"]: (r["loss"], r["lr"]) for r in recs if "loss" in r},
                   lmk.load_weights(work / "weights.npz")[0])
    (one, w1), (four, w4) = runs[1], runs[4]
    assert sorted(one) == sorted(four) == [2, 4, 6]
    np.testing.assert_allclose([four[s] for s in (2, 4, 6)], [one[s] for s in (2, 4, 6)], rtol=1e-4)
    d = np.concatenate([np.abs(np.asarray(a, np.float32) - np.asarray(b, np.float32)).ravel()
                        for a, b in zip(jax.tree_util.tree_leaves(w1), jax.tree_util.tree_leaves(w4))])
    # Adam divides each gradient by its own running scale, so a weight whose gradient is float
    # noise (|g| ~ 1e-9) takes full-size steps of either sign: a few of the 22,796 weights differ by
    # up to lr x steps (6e-3; 1.2e-3 seen).  All others agree to 1e-4 (99.8% seen).
    assert d.max() < 6e-3 and np.mean(d > 1e-4) < 0.01, (d.max(), np.mean(d > 1e-4))
    with pytest.raises(ValueError, match="at most two epochs"):
        train.train_and_evaluate(dataclasses.replace(cfg, steps_per_call=4, batch_size=8), tmp_path / "big",
                                 quiet=True)
