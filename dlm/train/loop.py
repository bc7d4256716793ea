"""Training the landmark networks on synthetic data only (Section 3.1).

    config = get_config()                   # an experiments/configs/*.py file
    train_and_evaluate(config, workdir)     # resumable: rerun the same command after a kill

The data stream is `dlm.synth.render.batches`: batch j holds samples j*B ... of the data seed, so a run
restored from its checkpoint at step j continues with exactly the batches it would have seen.
With `dataset` set (a `dlm synth` folder), batches come from it instead, in seeded epoch orders:
several networks then train on the same images without rendering them again.
Learning rate: a range test (exponentially increasing rate over a few steps, Smith 2017 / the
"automatically determined learning rate" of the paper) picks the peak rate, then warm-up and
cosine decay.  Metrics go to workdir/metrics.jsonl; checkpoints (orbax) to workdir/checkpoints;
the final half-precision weights and manifest to workdir/weights.{npz,json}.
"""
from __future__ import annotations

import dataclasses
import functools
import importlib.util
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax.training import train_state

from dlm.core import facemodel as fm
from dlm.core import sharding
from dlm.eval import aflw2000
from dlm.io.files import write_json, write_npz_deterministic
from dlm.io.provenance import REPO_ROOT, cache_relative, git_revision
from dlm.landmarks import nets
from dlm.landmarks import predictor as lmk
from dlm.synth import augment as aug
from dlm.synth import dataset as synth_dataset
from dlm.synth import pool as pool_lib
from dlm.synth import render as synth


@dataclasses.dataclass
class TrainConfig:
    name: str = "run"
    network: str = "mobilenetv2"
    landmark_set: str = "320"
    size: int = 128
    batch_size: int = 32
    steps: int = 20000
    loss: str = "gnll"
    weight_decay: float = 0.05
    lr: float | None = None           # None: learning-rate range test
    lr_test_steps: int = 100
    lr_test_range: tuple = (1e-5, 3e-1)
    warmup_steps: int = 300
    seed: int = 0                     # network initialisation
    data_seed: int = 0                # training samples
    test_seed: int = 1_000_003        # held-out synthetic test set
    test_num: int = 256
    eval_every: int = 1000
    checkpoint_every: int = 250
    log_every: int = 25
    dataset: str | None = None        # a `dlm synth` folder to train on instead of fresh renders
    pool: str | list | None = None    # a `dlm synth --pool` folder (or a list: drawn as one, pool_lib.load_pools),
                                      # drawn with fresh augmentation
    pool_photometric: bool = True     # the photometric chain on pool draws (crops always vary)
    # PosePrior fields (dlm.synth.pool): pool images drawn so that head pitch and roll follow
    # photographs' (importance resampling by the pool's pose.npy); {} for the defaults, None: off.
    pool_pose_prior: dict | None = None
    # AugmentRanges fields that differ from their defaults on pool draws, such as
    # dlm.synth.augment.CAMERA (the camera-realism steps); None: the defaults.
    augment: dict | None = None
    # CropRanges fields that differ from their defaults on pool draws, such as
    # dict(distractor_prob=0.3) (other faces in the background); None: the defaults.
    crops: dict | None = None
    # Eq. 1's lambda_i by region that differ from dlm.landmarks.predictor.REGION_WEIGHTS, such as
    # {"jaw": 3.0}; None: the defaults.
    region_weights: dict | None = None
    init_from: str | None = None      # weights (.npz or a shipped name) to start from, when no checkpoint
    # A backbone to start from (an .npz of flat params/... and batch_stats/... keys, such as
    # third_party/imagenet_mobilenetv2/): every array of the network but the landmark head.
    init_backbone: str | None = None
    real_eval_dir: str | None = "../shared/real/aflw2000_sample"   # real photos scored at each eval, if present
    # Pool runs on one device: >1 keeps the pool in device memory and runs this many steps (draw,
    # augment, train) per compiled call (`train_steps_on_pool`): the same draws and updates as
    # steps_per_call=1, without a host round trip and a Python dispatch per step.  For
    # accelerators, where those dominated (2,000 img/s on an H200 at batch 32).
    steps_per_call: int = 1
    # A campaign: `steps` is the whole campaign's budget over every run of its chain, and the
    # learning-rate schedule is read at the chain's step (samples seen before this run, from the
    # init_from manifest, over batch_size, plus this run's steps), so a run continued on a new
    # machine from the last exported weights resumes the schedule instead of warming up again.
    # The optimiser starts afresh from weights, so its rate ramps over `rewarm_steps` first.
    campaign: bool = False
    rewarm_steps: int = 100
    # A campaign that starts on weights already trained (another campaign's end): the samples
    # those weights had seen when it began, so its schedule starts at its own step 0.
    campaign_start_samples: int = 0

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"unknown config keys: {sorted(unknown)}")
        return cls(**d)


class TrainState(train_state.TrainState):
    batch_stats: Any


@functools.lru_cache(maxsize=None)
def make_optimizer(weight_decay: float) -> optax.GradientTransformation:
    """AdamW at unit rate (train_step scales the update by the scheduled rate, which is how optax's
    adamw applies its rate, decay included); no decay on biases and normalisation scales.  One
    object per setting, so the jitted step compiles once however many runs share a process."""
    return optax.chain(optax.clip_by_global_norm(5.0),
                       optax.adamw(1.0, weight_decay=weight_decay,
                                   mask=lambda params: jax.tree_util.tree_map(lambda x: x.ndim > 1, params)))


@functools.lru_cache(maxsize=None)
def _network(name: str, num: int):
    return nets.make_network(name, num)


def create_train_state(config: TrainConfig, key: jax.Array) -> TrainState:
    model = fm.load_face_model()
    net = _network(config.network, len(model.landmarks[config.landmark_set]))
    variables = nets.init_variables(net, key, config.size)
    return TrainState.create(apply_fn=net.apply, params=variables["params"], tx=make_optimizer(config.weight_decay),
                             batch_stats=variables["batch_stats"])


@functools.partial(jax.jit, static_argnames=("loss", "size"), donate_argnums=(0,))
def train_step(state: TrainState, images: jax.Array, targets: jax.Array, weights: jax.Array, lr: jax.Array,
               loss: str, size: int):
    """One AdamW step at rate lr.  images (B, S, S, 3) uint8; targets (B, L, 2) pixels; weights (L,)."""
    return _train_step(state, images, targets, weights, lr, loss, size)


@functools.partial(jax.jit, static_argnames=("loss", "size", "batch_size", "seed", "base_zoom", "photometric",
                                             "crops"), donate_argnums=(0,))
def train_steps_on_pool(state: TrainState, pool: pool_lib.DevicePool, first: jax.Array, epoch: jax.Array,
                        order: jax.Array, next_order: jax.Array, lrs: jax.Array, weights: jax.Array, loss: str,
                        size: int, batch_size: int, seed: int, base_zoom: float, photometric,
                        crops: pool_lib.CropRanges = pool_lib.CropRanges()):
    """len(lrs) steps of `train_step` on pool draws first, first + 1, ... as `pool_lib.pool_batches`
    makes them (draw i: pool image order[i % N] of its epoch, augmented with fold_in(key(seed + 1),
    i)), in one compiled call.  epoch: the epoch of draw `first`; order, next_order: the pool's
    orders of that epoch and the next (`pool_lib.epoch_order`), so a call spans at most two.
    Returns the state and each step's metrics stacked (len(lrs),)."""
    n = pool.image.shape[0]

    def body(state, xs):
        j, lr = xs
        pos = first + j * batch_size + jnp.arange(batch_size)
        idx = jnp.where(pos // n == epoch, order[pos % n], next_order[pos % n])
        keys = jax.vmap(lambda i: jax.random.fold_in(jax.random.key(seed + 1), i))(pos)
        images, targets, _ = pool_lib.augment_batch(keys, pool.image[idx], pool.landmarks[idx], pool.visible[idx],
                                                    pool.mirror, size, base_zoom, crops, photometric)
        return _train_step(state, images, targets, weights, lr, loss, size)
    return jax.lax.scan(body, state, (jnp.arange(lrs.shape[0]), lrs))


def _train_step(state, images, targets, weights, lr, loss, size):
    x = images.astype(jnp.float32) / 255.0
    t = lmk.normalise(targets, size)

    def loss_fn(params):
        out, updates = state.apply_fn({"params": params, "batch_stats": state.batch_stats}, x, train=True,
                                      mutable=["batch_stats"])
        return lmk.LOSSES[loss](out, t, weights), (out, updates)

    (value, (out, updates)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
    upd, opt_state = state.tx.update(grads, state.opt_state, state.params)
    upd = jax.tree_util.tree_map(lambda u: lr * u, upd)
    state = state.replace(step=state.step + 1, params=optax.apply_updates(state.params, upd), opt_state=opt_state,
                          batch_stats=updates["batch_stats"])
    err = jnp.linalg.norm(out[..., :2] - t, axis=-1) * size / 2.0
    return state, dict(loss=value, mean_error_px=jnp.mean(err), sigma_px=jnp.mean(jnp.exp(out[..., 2])) * size / 2)


def training_batches(config: TrainConfig, seed: int, start: int, model: fm.FaceModel | None = None):
    """Batches of samples start, start + 1, ...: rendered on the fly (`synth.batches`), or drawn
    from `config.dataset` (`synth_dataset.dataset_batches`, epochs in seeded orders) when one is given.
    Either way the stream is fixed by (seed, start), which is what makes a run resumable."""
    if config.pool is not None:
        return pool_lib.pool_batches(drawn_pool(config), seed, config.batch_size, config.size, start,
                                     crops=crop_ranges(config), photometric=photometric_ranges(config))
    if config.dataset is None:
        return synth.batches(seed, config.batch_size, config.size, config.landmark_set, model=model, start=start,
                             prefetch=2)
    data = _load_dataset(config.dataset, config.landmark_set)
    if data["image"].shape[1:3] != (config.size, config.size):
        raise ValueError(f"{config.dataset}: images are {data['image'].shape[1]} px, the config's size is "
                         f"{config.size}")
    return synth_dataset.dataset_batches(data, seed, config.batch_size, start)


def _ranges(cls, changes: dict | None, field: str):
    """cls (a NamedTuple of ranges) with a config's changes; unknown names are an error.  Tuples come
    back from JSON (config.json, manifests) as lists; the ranges must stay hashable (static)."""
    unknown = set(changes or {}) - set(cls._fields)
    if unknown:
        raise ValueError(f"{field}: unknown fields {sorted(unknown)}; {cls.__name__} has {list(cls._fields)}")
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in (changes or {}).items()})


def crop_ranges(config: TrainConfig) -> pool_lib.CropRanges:
    """The crops (and background faces) of pool draws: CropRanges with the config's changes."""
    return _ranges(pool_lib.CropRanges, config.crops, "crops")


def photometric_ranges(config: TrainConfig):
    """The photometric chain's AugmentRanges for pool draws, or None when it is off."""
    if not config.pool_photometric:
        return None
    return _ranges(aug.AugmentRanges, config.augment, "augment")


def _load_pool(folder, landmark_set: str):
    """A relative pool path that does not exist from here is looked up in the cache folder; a
    list of folders is drawn as one pool (`pool_lib.load_pools`)."""
    return _load_pool_cached(folder if isinstance(folder, str) else tuple(folder), landmark_set)


@functools.lru_cache(maxsize=1)
def _load_pool_cached(folder, landmark_set: str):
    if isinstance(folder, str):
        return pool_lib.load_pool(cache_relative(folder), landmark_set)
    return pool_lib.load_pools([cache_relative(f) for f in folder], landmark_set)


def drawn_pool(config: TrainConfig):
    """The config's pool, drawn as `pool_pose_prior` says."""
    prior = config.pool_pose_prior
    return pool_lib.with_pose_prior(_load_pool(config.pool, config.landmark_set),
                                    None if prior is None else pool_lib.PosePrior(**prior))


@functools.lru_cache(maxsize=1)
def _load_dataset(folder: str, landmark_set: str) -> dict:
    return synth_dataset.load_dataset(folder, landmark_set)


def lr_range_test(config: TrainConfig, key: jax.Array, weights: jax.Array, log=print) -> dict:
    """Train from scratch with the rate rising exponentially over `lr_test_steps` steps and pick a
    tenth of the rate where the smoothed landmark error (pixels) was lowest.

    The error, not the loss: GNLL's sigma term keeps lowering the loss at any rate (sigma adapts
    first), so on the real-time config the loss minimum sat at the top of the range (0.18) and a
    run at a tenth of it stayed at the mean shape.  Samples come from a seed of their own."""
    lo, hi = config.lr_test_range
    n = config.lr_test_steps
    sched = lambda step: jnp.float32(lo * (hi / lo) ** (step / max(n - 1, 1)))  # noqa: E731
    state = create_train_state(config, key)
    stream = training_batches(config, config.data_seed + 7_777_777, 0)
    rates, losses, errors = [], [], []
    for i in range(n):
        b = next(stream)
        state, m = train_step(state, b["image"], b["landmarks"], weights, sched(i), config.loss, config.size)
        rates.append(float(sched(i)))
        losses.append(float(m["loss"]))
        errors.append(float(m["mean_error_px"]))
        # Diverged: the error far above where it started.
        if not np.isfinite(losses[-1]) or (i > 10 and np.mean(errors[-3:]) > 1.5 * np.mean(errors[:5])):
            break
    stream.close()
    # Batches differ a lot, so the error is smoothed over 9 steps before taking its minimum.
    k = 9 if len(errors) >= 9 else 1
    smooth = np.convolve(errors, np.ones(k) / k, mode="valid")
    best = int(np.argmin(smooth)) + (len(errors) - len(smooth)) // 2
    lr = rates[best] / 10.0
    log(f"learning-rate range test: lowest error at {rates[best]:.2e}, training at {lr:.2e}")
    return dict(lr=lr, rates=rates, losses=losses, mean_error_px=errors)


def make_test_set(config: TrainConfig, model: fm.FaceModel, cache: Path | None = None) -> dict:
    """The held-out synthetic test set (fixed seed, augmentation on, as training sees data)."""
    if cache is not None and cache.exists():
        with np.load(cache) as z:
            return {k: z[k] for k in z.files}
    stream = synth.batches(config.test_seed, min(32, config.test_num), config.size, config.landmark_set, model=model,
                           prefetch=1)
    parts = [next(stream) for _ in range(-(-config.test_num // min(32, config.test_num)))]
    stream.close()
    out = {k: np.concatenate([p[k] for p in parts])[:config.test_num] for k in ("image", "landmarks", "visible")}
    if cache is not None:
        write_npz_deterministic(cache, out)
    return out


def evaluate(apply, variables, test: dict, region_names, size: int, batch: int = 64) -> dict:
    """NME (mean point error / sqrt(w h) of the ground-truth box of the first 68 landmarks, as in
    the AFLW2000-3D protocol) overall, per region and on visible landmarks, and the calibration of
    sigma: the fraction of errors within 1 and 2 sigma (a circular 2D Gaussian gives 39.3% and
    86.5%)."""
    mus, sigmas = [], []
    forward = jax.jit(lambda v, x: apply(v, x.astype(jnp.float32) / 255.0, train=False))   # not layer by layer
    for i in range(0, len(test["image"]), batch):
        out = forward(variables, jnp.asarray(test["image"][i:i + batch]))
        mu, sigma = lmk.to_pixels(out, size)
        mus.append(np.asarray(mu)), sigmas.append(np.asarray(sigma))
    mu, sigma = np.concatenate(mus), np.concatenate(sigmas)
    gt, vis = test["landmarks"], test["visible"]
    box = gt[:, :68].max(1) - gt[:, :68].min(1)
    norm = np.sqrt(box[:, 0] * box[:, 1])[:, None]
    err = np.linalg.norm(mu - gt, axis=-1)
    nme = err / norm
    names = np.asarray(region_names)
    res = dict(nme=float(nme.mean()), nme_visible=float(nme[vis].mean()), nme_68=float(nme[:, :68].mean()),
               mean_error_px=float(err.mean()), within_1_sigma=float((err < sigma).mean()),
               within_2_sigma=float((err < 2 * sigma).mean()), num_images=int(len(gt)))
    res["nme_by_region"] = {r: float(nme[:, names == r].mean()) for r in sorted(set(region_names))}
    return res


def _log_jsonl(path: Path, record: dict):
    with open(path, "a") as f:
        f.write(json.dumps(record) + "\n")


def resumes_same_run(saved: dict, config: TrainConfig) -> bool:
    """Whether `config` continues the run whose config.json holds `saved`.

    Everything but the step count (which a longer run may raise) must match.  A field added to
    TrainConfig after the run started counts as its default; one removed since (such as
    render_workers) no longer counts.  init_from and init_backbone count only at a run's start
    (then the checkpoint and parent.json rule), so a campaign config may point them at newer
    weights (its first run starts from ImageNet features, later ones from its chain) while a kept
    machine resumes its run."""
    skip = ("lr_chosen", "git_revision", "steps", "init_from", "init_backbone", "steps_per_call")
    new = json.loads(json.dumps(dataclasses.asdict(config)))
    old = dict(json.loads(json.dumps(dataclasses.asdict(TrainConfig()))), **saved)
    old = {k: v for k, v in old.items() if k not in skip and k in new}
    return old == {k: v for k, v in new.items() if k not in skip}


def train_and_evaluate(config: TrainConfig, workdir, quiet: bool = False, stop_at: int | None = None,
                       minutes: float | None = None, until: int | None = None) -> dict | None:
    """Train (or resume) in workdir; returns the final metrics.  Rerunning after a kill resumes
    from the last checkpoint with the same batches and learning-rate schedule.  `stop_at` ends
    this call early at that step (as a kill would, but after a checkpoint) and returns None.
    `minutes` is a wall-clock budget for training: when it runs out the run checkpoints,
    evaluates (synthetic test set and the real photos), exports its weights and returns the
    metrics, and rerunning the command continues it.  `until` ends the run at that step of the
    schedule as if it were the last (checkpoint, evaluation, export): probes that compare
    variants at an equal number of samples seen; a run already past it is an error.  Each call writes workdir/session.json
    (steps, samples, seconds and images/s of this call alone)."""
    # Here, not at the top: orbax takes seconds to import, and every dlm command imports this module.
    import orbax.checkpoint as ocp
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    log = (lambda *a, **k: None) if quiet else functools.partial(print, flush=True)
    cfg_path = workdir / "config.json"
    cfg_dict = dataclasses.asdict(config)
    if cfg_path.exists() and not resumes_same_run(json.loads(cfg_path.read_text()), config):
        raise ValueError(f"{workdir}: holds a run with another config; use a new --workdir")
    model = fm.load_face_model()
    region_names = model.landmark_regions[config.landmark_set]
    weights = jnp.asarray(lmk.landmark_weights(region_names, config.region_weights))
    key = jax.random.key(config.seed)
    lr_path = workdir / "lr_range_test.json"
    if config.lr is not None:
        peak = config.lr
    elif lr_path.exists():
        peak = json.loads(lr_path.read_text())["lr"]
    else:
        res = lr_range_test(config, jax.random.fold_in(key, 1), weights, log)
        write_json(lr_path, res)
        peak = res["lr"]
    write_json(cfg_path, dict(cfg_dict, lr_chosen=peak, git_revision=git_revision()))
    schedule = optax.warmup_cosine_decay_schedule(0.0, peak, min(config.warmup_steps, config.steps // 4 + 1),
                                                  config.steps, end_value=peak * 0.01)
    state = create_train_state(config, jax.random.fold_in(key, 0))
    parent = {}
    mngr = ocp.CheckpointManager(workdir / "checkpoints",
                                 options=ocp.CheckpointManagerOptions(max_to_keep=2, create=True))
    parent_path = workdir / "parent.json"
    if config.init_backbone is not None:
        state = init_backbone(state, config.init_backbone)
    if config.init_from is not None:
        state, parent = init_from_weights(state, config.init_from)
        # The weights this run started from, as they were then: a resumed run keeps its chain and
        # schedule even if the file behind init_from (a shipped name) has been replaced since.
        if mngr.latest_step() is not None and parent_path.exists():
            parent = json.loads(parent_path.read_text())
        else:
            write_json(parent_path, parent)
    if mngr.latest_step() is not None:
        state = mngr.restore(mngr.latest_step(), args=ocp.args.StandardRestore(state))
        log(f"resumed at step {int(state.step)}")
    step = int(state.step)
    start_step = step
    # The chain's step before this run: the schedule is read at offset + step (campaigns only).
    offset = 0
    if config.campaign:
        before = parent.get("samples_seen", 0) - config.campaign_start_samples
        if before < 0:
            raise ValueError(f"{config.init_from}: has seen {parent.get('samples_seen', 0)} samples, fewer than "
                             f"the campaign's start ({config.campaign_start_samples}): not this campaign's weights")
        offset = before // config.batch_size
    end = config.steps - offset
    if until is not None:
        if step > until:
            raise ValueError(f"{workdir}: trained to step {step}, past until={until}; use a new workdir")
        end = min(end, until)

    rewarm = config.campaign and config.init_from is not None   # a fresh optimiser on trained weights

    # One compiled call per step: optax's schedules run op by op took ~7% of a campaign's main thread.
    @jax.jit
    def _rate(step):
        lr = schedule(offset + step)
        if rewarm:
            lr = lr * jnp.minimum(1.0, (step + 1) / max(config.rewarm_steps, 1))
        return jnp.float32(lr)

    def rate(step):
        return _rate(jnp.int32(step))
    if config.campaign:
        log(f"campaign step {offset + step} of {config.steps} ({parent.get('samples_seen', 0)} samples before "
            f"this run), rate {float(rate(step)):.2e}")
    deadline = None if minutes is None else time.perf_counter() + 60.0 * minutes
    progress_path = workdir / "progress.json"
    progress = json.loads(progress_path.read_text()) if progress_path.exists() else dict(train_seconds=0.0)
    # Data-parallel over every device: state replicated, each batch split along its first axis
    # (XLA then all-reduces the gradients and the batch-norm statistics).
    mesh = sharding.device_mesh()
    if mesh.devices.size > 1:
        if config.batch_size % sharding.local_device_count(mesh):
            raise ValueError(f"batch_size {config.batch_size} is not a multiple of the "
                             f"{sharding.local_device_count(mesh)} local devices")
        state = jax.device_put(state, sharding.replicated(mesh))
        log(f"data-parallel over {mesh.devices.size} devices")
    fused = config.steps_per_call > 1
    # A dataset's stream checks the dataset against the config: before the test set is rendered.
    stream = (training_batches(config, config.data_seed, step * config.batch_size, model)
              if config.dataset is not None and not fused else None)
    test = make_test_set(config, model, workdir / "test_set.npz")
    metrics_path = workdir / "metrics.jsonl"
    if fused:
        if config.pool is None or mesh.devices.size > 1:
            raise ValueError("steps_per_call > 1 needs a pool and one device")
        pool = drawn_pool(config)
        if config.steps_per_call * config.batch_size > len(pool.image):
            raise ValueError(f"steps_per_call x batch_size ({config.steps_per_call * config.batch_size}) is more than "
                             f"the pool's {len(pool.image)} images: a call may span at most two epochs")
        device_pool = pool_lib.to_device(pool)
        base_zoom = config.size / (pool.image.shape[1] * pool.meta["crop_scale"])
        stream = None
    elif stream is None:
        stream = training_batches(config, config.data_seed, step * config.batch_size, model)
    t0, seen, window = time.perf_counter(), 0, []
    t_saved = t0
    last_eval, last_eval_step, saved_step = None, None, None
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()

    def record(step):
        """Wall seconds of training so far (all sessions), written beside each checkpoint."""
        nonlocal t_saved
        now = time.perf_counter()
        progress["train_seconds"] += now - t_saved
        t_saved = now
        write_json(progress_path, dict(progress, step=step, cores=cores))

    def export(step, evaluation):
        """Half-precision weights with their manifest (samples seen, hours, the run chain)."""
        samples = parent.get("samples_seen", 0) + step * config.batch_size
        hours = progress["train_seconds"] / 3600
        run = dict(name=config.name, git_revision=git_revision(), steps=step, batch_size=config.batch_size,
                   samples=step * config.batch_size, train_hours=round(hours, 5),
                   cpu_hours=round(hours * cores, 5) if jax.default_backend() == "cpu" else None,
                   device=jax.devices()[0].device_kind, init_from=config.init_from)
        net_cfg = dict(network=config.network, num_landmarks=len(region_names), size=config.size,
                       landmark_set=config.landmark_set, loss=config.loss)
        lmk.save_weights(workdir / "weights.npz", {"params": state.params, "batch_stats": state.batch_stats},
                         net_cfg, metrics=dict(test=evaluation, steps=step, real=real_eval(state)),
                         extra=dict(data_seed=config.data_seed, test_seed=config.test_seed, train_config=cfg_dict,
                                    lr=peak, samples_seen=samples,
                                    cpu_hours=round(parent.get("cpu_hours", 0.0) + (run["cpu_hours"] or 0.0), 5),
                                    chain=parent.get("chain", []) + [run],
                                    pool=_pool_meta(config)))

    def real_eval(state):
        if not config.real_eval_dir or not os.path.isdir(config.real_eval_dir):
            return None
        pred = lmk.Predictor(config.network, len(region_names), config.size,
                             {"params": state.params, "batch_stats": state.batch_stats}, config.landmark_set)
        return dict(dir=config.real_eval_dir,
                    **aflw2000.summary(aflw2000.eval_aflw2000(config.real_eval_dir, pred, roi="gt")))
    while step < end:
        if deadline is not None and time.perf_counter() > deadline:
            log(f"\ntime budget of {minutes:g} min used at step {step}")
            break
        if stop_at is not None and step >= stop_at:
            if stream is not None:
                stream.close()
            mngr.save(step, args=ocp.args.StandardSave(state), force=True)
            mngr.wait_until_finished()
            return None
        if fused:
            # Up to the next step where something is logged, saved, evaluated or stopped.
            k = min([config.steps_per_call, end - step] + [e - step % e for e in (
                config.log_every, config.checkpoint_every, config.eval_every)]
                + ([stop_at - step] if stop_at is not None else []))
            n, first = len(pool.image), step * config.batch_size
            epoch = first // n
            lrs = rate(step + jnp.arange(k))
            state, ms = train_steps_on_pool(
                state, device_pool, jnp.int32(first), jnp.int32(epoch),
                pool_lib.epoch_order(config.data_seed, n, epoch, pool.draw),
                pool_lib.epoch_order(config.data_seed, n, epoch + 1, pool.draw),
                lrs, weights, config.loss, config.size, config.batch_size, config.data_seed, base_zoom,
                photometric_ranges(config), crop_ranges(config))
            ms = jax.device_get(ms)
            window.extend({key: v[j] for key, v in ms.items()} for j in range(k))
        else:
            k = 1
            b = next(stream)
            images, targets = b["image"], b["landmarks"]
            if mesh.devices.size > 1:
                images, targets = sharding.shard_batch((images, targets), mesh)
            state, m = train_step(state, images, targets, weights, rate(step), config.loss, config.size)
            window.append(m)
        step += k
        seen += k * config.batch_size
        if step % config.log_every == 0 or step == end:
            avg = {k: float(np.mean([float(w[k]) for w in window])) for k in window[0]}
            window = []
            speed = seen / (time.perf_counter() - t0)
            rec = dict(step=step, lr=float(rate(step)), images_per_s=speed, **avg)
            if config.campaign:
                rec["chain_step"] = offset + step
            _log_jsonl(metrics_path, rec)
            eta = (end - step) * config.batch_size / max(speed, 1e-9)
            bar = "#" * int(30 * step / max(end, 1))
            if not quiet:
                sys.stdout.write(f"\r[{bar:<30}] {step}/{end} loss {avg['loss']:.4f} "
                                 f"err {avg['mean_error_px']:.2f}px {speed:.1f} img/s eta {eta / 60:.0f} min ")
                sys.stdout.flush()
        if step % config.checkpoint_every == 0 or step == end:
            mngr.save(step, args=ocp.args.StandardSave(state))
            saved_step = step
            record(step)
        if step % config.eval_every == 0 or step == end:
            variables = {"params": state.params, "batch_stats": state.batch_stats}
            last_eval, last_eval_step = evaluate(state.apply_fn, variables, test, region_names, config.size), step
            _log_jsonl(metrics_path, dict(step=step, eval=last_eval))
            log(f"\nstep {step}: test NME {last_eval['nme']:.4f} (visible {last_eval['nme_visible']:.4f}), "
                f"within 1/2 sigma {last_eval['within_1_sigma']:.2f}/{last_eval['within_2_sigma']:.2f}")
            if step < end:   # weights of the run so far, for a session that ends before it does
                record(step)
                export(step, last_eval)
    if stream is not None:
        stream.close()
    train_seconds = time.perf_counter() - t0
    if saved_step != step and step > start_step:   # stopped by the time budget between checkpoints
        mngr.save(step, args=ocp.args.StandardSave(state), force=True)
    mngr.wait_until_finished()
    if last_eval_step != step:
        variables = {"params": state.params, "batch_stats": state.batch_stats}
        last_eval = evaluate(state.apply_fn, variables, test, region_names, config.size)
        _log_jsonl(metrics_path, dict(step=step, eval=last_eval))
    record(step)
    export(step, last_eval)
    write_json(workdir / "session.json",
               dict(start_step=start_step, end_step=step, chain_step=offset + step, campaign_steps=config.steps,
                    samples=(step - start_step) * config.batch_size, train_seconds=round(train_seconds, 2),
                    images_per_s=round((step - start_step) * config.batch_size / max(train_seconds, 1e-9), 3),
                    cores=cores, lr=float(rate(step)), minutes=minutes, git_revision=git_revision()))
    return last_eval


def init_from_weights(state: TrainState, name_or_path: str) -> tuple[TrainState, dict]:
    """state with the parameters and batch statistics of a weights file (the optimiser starts
    afresh); and that file's manifest entries a continued run adds to (samples seen, CPU hours,
    the chain of runs).  Weights of another shape are an error naming both."""
    name = str(name_or_path)
    path = name if name.endswith(".npz") else lmk.WEIGHTS_DIR / f"{lmk.SHIPPED.get(name, name)}.npz"
    variables, manifest = lmk.load_weights(path)
    want = jax.tree_util.tree_map(jnp.shape, {"params": state.params, "batch_stats": state.batch_stats})
    if jax.tree_util.tree_map(jnp.shape, variables) != want:
        raise ValueError(f"{name_or_path}: weights of another network than the config's")
    cast = lambda new, old: jnp.asarray(new, old.dtype)  # noqa: E731  (half-precision files)
    state = state.replace(params=jax.tree_util.tree_map(cast, variables["params"], state.params),
                          batch_stats=jax.tree_util.tree_map(cast, variables["batch_stats"], state.batch_stats))
    steps = manifest.get("metrics", {}).get("steps", 0)
    tc = manifest.get("train_config", {})
    samples = manifest.get("samples_seen", steps * tc.get("batch_size", 0))
    chain = manifest.get("chain") or [dict(name=tc.get("name"), git_revision=manifest.get("git_revision"),
                                           steps=steps, samples=samples)]
    return state, dict(samples_seen=samples, cpu_hours=manifest.get("cpu_hours", 0.0), chain=chain)


def init_backbone(state: TrainState, path) -> TrainState:
    """state with every array of the network but the landmark head taken from `path` (flat keys
    params/... and batch_stats/..., any float type; keys of other networks, like an ImageNet
    classifier, are ignored).  A backbone array the file lacks, or one of another shape, is an error:
    a half-loaded network would train on silently."""
    path = Path(path)
    if not path.is_absolute() and not path.exists():
        path = REPO_ROOT / path
    with np.load(path, allow_pickle=False) as z:
        flat = {k: z[k] for k in z.files}
    tree = {"params": state.params, "batch_stats": state.batch_stats}
    leaves, treedef = jax.tree_util.tree_flatten_with_path(tree)
    new = []
    for keypath, old in leaves:
        name = "/".join(str(getattr(k, "key", k)) for k in keypath)
        if "LandmarkHead" in name:
            new.append(old)
            continue
        if name not in flat:
            raise ValueError(f"{path}: no array {name} (a backbone of another network?)")
        if flat[name].shape != old.shape:
            raise ValueError(f"{path}: {name} is {flat[name].shape}, the network's is {old.shape}")
        new.append(jnp.asarray(flat[name], old.dtype))
    tree = jax.tree_util.tree_unflatten(treedef, new)
    return state.replace(params=tree["params"], batch_stats=tree["batch_stats"])


def _pool_meta(config: TrainConfig) -> dict | None:
    if config.pool is None:
        return None
    meta = _load_pool(config.pool, config.landmark_set).meta
    return {k: meta.get(k) for k in ("num", "size", "seed", "crop_scale", "render_seconds", "git_revision")}


def config_dict(path) -> dict:
    """get_config() of a Python config file, loaded by path (a campaign's config builds on another's)."""
    spec = importlib.util.spec_from_file_location("dlm_train_config", path)
    if spec is None or spec.loader is None:
        raise FileNotFoundError(f"{path}: no such config file")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.get_config()


def load_config(path) -> TrainConfig:
    """A Python config file defining get_config() -> dict."""
    return TrainConfig.from_dict(config_dict(path))
