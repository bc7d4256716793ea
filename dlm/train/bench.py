"""Benchmark of the training step (`dlm bench train`)."""
from __future__ import annotations

import os
import time

import jax
import jax.numpy as jnp
import numpy as np

from dlm.core import facemodel as fm
from dlm.landmarks import predictor as lmk
from dlm.synth import pool as pool_lib
from dlm.train import loop as train


def bench_train(config_path: str, steps: int = 20, warmup: int = 3, pool: str | None = None) -> dict:
    """The training step as `dlm train` runs it (data, augmentation, forward, backward, update),
    timed per step from asking the data stream for a batch to the updated state: images/s and
    the median step; the step's FLOPs per image (XLA's cost analysis of the compiled step) and
    the effective GFLOP/s they give; and the data path alone (batches/s of the stream without
    training, pool draws only; on-the-fly rendering has `dlm bench synth`), to show whether data
    keeps up.  pool: override the config's pool folder."""
    config = train.load_config(config_path)
    if pool is not None:
        config.pool = pool
    config.init_from = None          # the step's speed does not depend on the starting weights
    model = fm.load_face_model()
    weights = jnp.asarray(lmk.landmark_weights(model.landmark_regions[config.landmark_set]))
    state = train.create_train_state(config, jax.random.key(config.seed))
    stream = train.training_batches(config, config.data_seed, 0, model)
    lr = jnp.float32(1e-4)
    b = next(stream)
    compiled = train.train_step.lower(state, b["image"], b["landmarks"], weights, lr, loss=config.loss,
                                      size=config.size).compile()
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost
    flops = float(cost.get("flops", float("nan")))
    times = []
    for i in range(warmup + steps):
        t0 = time.perf_counter()
        b = next(stream)
        state, m = train.train_step(state, b["image"], b["landmarks"], weights, lr, config.loss, config.size)
        jax.block_until_ready(m)
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    t = np.asarray(times)
    stream.close()
    data_alone = None
    if config.pool:
        # Synchronous draws (the stream prefetches, which would hide their cost).
        p = train._load_pool(config.pool, config.landmark_set)
        photometric = train.photometric_ranges(config)
        data_times = []
        for i in range(steps):
            t0 = time.perf_counter()
            pool_lib.pool_batch(p, 12345, i * config.batch_size, config.batch_size, config.size,
                                photometric=photometric)
            data_times.append(time.perf_counter() - t0)
        data_alone = config.batch_size / float(np.median(data_times[1:] or data_times))
    med = float(np.median(t))
    return dict(config=str(config_path), network=config.network, size=config.size, batch_size=config.batch_size,
                landmarks=len(model.landmarks[config.landmark_set]),
                data="pool" if config.pool else ("dataset" if config.dataset else "rendered on the fly"),
                steps=steps, median_step_ms=med * 1e3, p90_step_ms=float(np.percentile(t, 90)) * 1e3,
                images_per_s=config.batch_size / med, flops_per_image=flops / config.batch_size,
                effective_gflops=flops / med / 1e9,
                data_alone_images_per_s=data_alone,
                cores=len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count())
