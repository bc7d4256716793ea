"""Pre-rendered training data: datasets (`dlm synth --landmarks all`) serving every landmark set, and
render pools (`dlm synth --pool`) written resumably and drawn deterministically.  Training on them is
in test_train.py."""
import json
import shutil

import numpy as np
import pytest

from dlm.synth import dataset as synth_dataset
from dlm.synth import pool
from dlm.synth import render as synth

# test_train's pool size (and test_bench's `synth --pool`): one compiled renderer serves all three.
POOL = 80


def test_a_dataset_of_every_landmark_serves_each_set(tmp_path, model):
    """A dataset rendered with "all" holds the same images as one rendered for a single set, and
    `load_dataset` picks out exactly that set's labels; a set the dataset lacks is refused."""
    # The single set is the 703 of test_synth's batches (64 px, augmented): the same compiled renderer.
    every, only703 = tmp_path / "all", tmp_path / "703"
    synth_dataset.write_dataset(every, 3, 64, 9, "all")
    synth_dataset.write_dataset(only703, 3, 64, 9, "703")
    a, b = synth_dataset.load_dataset(every, "703", model), synth_dataset.load_dataset(only703, "703", model)
    np.testing.assert_array_equal(a["image"], b["image"])
    np.testing.assert_allclose(a["landmarks"], b["landmarks"], atol=1e-4)
    np.testing.assert_array_equal(a["visible"], b["visible"])
    assert synth_dataset.load_dataset(every, "68", model)["landmarks"].shape == (3, 68, 2)
    with pytest.raises(ValueError, match="lacks"):
        synth_dataset.load_dataset(only703, "320", model)
    # Epochs: every sample once per epoch, in seeded orders; a resumed stream repeats them.
    stream = synth_dataset.dataset_batches(a, seed=4, batch_size=2)
    seen = np.concatenate([next(stream)["index"] for _ in range(6)])  # 12 samples = 4 epochs of 3
    assert all(sorted(seen[3 * e:3 * e + 3]) == [0, 1, 2] for e in range(4))
    resumed = synth_dataset.dataset_batches(a, seed=4, batch_size=2, start=6)
    np.testing.assert_array_equal(next(resumed)["index"], seen[6:8])


def test_pool_writes_resume_exactly_and_draws_are_deterministic(tmp_path, model):
    class Stop(Exception):
        pass

    def stop_after_first_chunk(done, num):
        if done < num:
            raise Stop

    a, b = tmp_path / "a", tmp_path / "b"
    pool.write_pool(a, 16, size=POOL, seed=3, crop_scale=0.8, workers=1)
    with pytest.raises(Stop):
        pool.write_pool(b, 16, size=POOL, seed=3, crop_scale=0.8, progress=stop_after_first_chunk, workers=1)
    assert not b.exists() and (tmp_path / "b.partial").is_dir()
    with pytest.raises(FileNotFoundError, match="unfinished"):
        pool.load_pool(b, "68", model)
    pool.write_pool(b, 16, size=POOL, seed=3, crop_scale=0.8, workers=1)
    for name in pool.FIELDS:
        np.testing.assert_array_equal(np.load(a / f"{name}.npy"), np.load(b / f"{name}.npy"))
    with pytest.raises(FileExistsError):
        pool.write_pool(a, 16, size=POOL, seed=3)
    # Grown from a smaller pool of the same settings: its samples copied, the rest rendered, the
    # same pool as one rendered whole (render time adds up); other settings are refused by name.
    half = tmp_path / "half"
    pool.write_pool(half, 8, size=POOL, seed=3, crop_scale=0.8, workers=1)
    grown = tmp_path / "grown"
    pool.write_pool(grown, 16, size=POOL, seed=3, crop_scale=0.8, workers=1, grow_from=half)
    for name in pool.FIELDS:
        np.testing.assert_array_equal(np.load(a / f"{name}.npy"), np.load(grown / f"{name}.npy"))
    meta = json.loads((grown / "meta.json").read_text())
    assert meta["grown_from"] == str(half) and meta["num"] == 16
    assert meta["render_seconds"] >= json.loads((half / "meta.json").read_text())["render_seconds"]
    with pytest.raises(ValueError, match=r"other settings \(seed\)"):
        pool.write_pool(tmp_path / "c", 16, size=POOL, seed=4, crop_scale=0.8, workers=1, grow_from=half)
    with pytest.raises(ValueError, match="more than"):
        pool.write_pool(tmp_path / "d", 8, size=POOL, seed=3, crop_scale=0.8, workers=1, grow_from=a)
    # A pool drawn by an earlier renderer (its meta without this renderer's version) is refused too.
    assert meta["renderer"] == synth.RENDERER_VERSION
    old = tmp_path / "old"
    shutil.copytree(half, old)
    (old / "meta.json").write_text(json.dumps({k: v for k, v in json.loads((half / "meta.json").read_text()).items()
                                               if k != "renderer"}))
    with pytest.raises(ValueError, match=r"other settings \(renderer\)"):
        pool.write_pool(tmp_path / "e", 16, size=POOL, seed=3, crop_scale=0.8, workers=1, grow_from=old)
    # A pool lit by the environment maps: the same heads and labels in other light and settings.
    env = tmp_path / "env"
    pool.write_pool(env, 16, size=POOL, seed=3, crop_scale=0.8, workers=1, env_prob=1.0)
    assert json.loads((env / "meta.json").read_text())["env_prob"] == 1.0
    assert "env_prob" not in json.loads((a / "meta.json").read_text())
    np.testing.assert_array_equal(np.load(env / "landmarks.npy"), np.load(a / "landmarks.npy"))
    assert np.abs(np.load(env / "image.npy").astype(float) - np.load(a / "image.npy")).mean() > 5
    p = pool.load_pool(a, "68", model)
    assert p.image.shape == (16, POOL, POOL, 3) and p.landmarks.shape == (16, 68, 2)
    one = pool.pool_batch(p, 5, 8, 8, 32)
    again = pool.pool_batch(p, 5, 8, 8, 32)
    other = pool.pool_batch(p, 5, 16, 8, 32)           # the next epoch: other draws of the same images
    for k in ("image", "landmarks", "visible", "index"):
        np.testing.assert_array_equal(one[k], again[k])
    assert sorted(np.concatenate([one["index"], pool.pool_batch(p, 5, 0, 8, 32)["index"]])) == list(range(16))
    assert not np.array_equal(one["landmarks"], other["landmarks"])
    stream = pool.pool_batches(p, 5, 8, 32, start=8)
    np.testing.assert_array_equal(next(stream)["image"], one["image"])
    stream.close()


