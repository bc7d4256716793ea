"""Training from a pre-rendered dataset (`dlm synth --landmarks all`, `TrainConfig.dataset`).

Run in its own process by tests/test_isolated.py: in one process with the whole suite, these extra
renderer compilations brought back the XLA abort that test_isolated.py describes (at
test_synth.py's vectorised render, twice in a clean-clone CI run)."""
import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from dlm.synth import dataset as synth_dataset
from dlm.train import loop as train

QUICK_CONFIG = Path(__file__).resolve().parents[2] / "experiments" / "configs" / "quick.py"


def test_a_dataset_of_every_landmark_serves_each_set(tmp_path, model):
    """A dataset rendered with "all" holds the same images as one rendered for a single set, and
    `load_dataset` picks out exactly that set's labels; a set the dataset lacks is refused."""
    every, only68 = tmp_path / "all", tmp_path / "68"
    synth_dataset.write_dataset(every, 3, 64, 9, "all")
    synth_dataset.write_dataset(only68, 3, 64, 9, "68")
    a, b = synth_dataset.load_dataset(every, "68", model), synth_dataset.load_dataset(only68, "68", model)
    np.testing.assert_array_equal(a["image"], b["image"])
    np.testing.assert_allclose(a["landmarks"], b["landmarks"], atol=1e-4)
    np.testing.assert_array_equal(a["visible"], b["visible"])
    assert synth_dataset.load_dataset(every, "703", model)["landmarks"].shape == (3, 703, 2)
    with pytest.raises(ValueError, match="lacks"):
        synth_dataset.load_dataset(only68, "320", model)
    # Epochs: every sample once per epoch, in seeded orders; a resumed stream repeats them.
    stream = synth_dataset.dataset_batches(a, seed=4, batch_size=2)
    seen = np.concatenate([next(stream)["index"] for _ in range(6)])  # 12 samples = 4 epochs of 3
    assert all(sorted(seen[3 * e:3 * e + 3]) == [0, 1, 2] for e in range(4))
    resumed = synth_dataset.dataset_batches(a, seed=4, batch_size=2, start=6)
    np.testing.assert_array_equal(next(resumed)["index"], seen[6:8])


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
