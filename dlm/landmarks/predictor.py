"""Probabilistic landmark prediction: losses, shipped weights with manifests, and the predictor.

A network (`dlm.landmarks.nets`) maps a square crop (S, S, 3) to (L, 3): x, y in [-1, 1] (the crop's
[0, S] normalised) and log sigma in the same units.  `predict_landmarks` returns mu (L, 2) in crop
pixels (x right, y down, pixel centres at integer + 0.5) and sigma (L,) in pixels.

Weights are stored as float16 `.npz` (no pickle) next to a JSON manifest with the network config,
git revision, data seed, sha256 of the weights file and final metrics; loading checks the hash
and every array's shape.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
import warnings

import cv2
import jax
import jax.numpy as jnp
import numpy as np

from dlm.io.files import write_json, write_npz_deterministic
from dlm.io.provenance import cache_dir, git_revision
from dlm.landmarks import nets, onnx_runtime

WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "data" / "weights"
SHIPPED = {"realtime": "realtime_mnv2050_320", "offline": "offline_703"}
# How a Predictor runs its network when called (`Predictor(runtime=...)`): XLA, or ONNX Runtime for the
# networks it supports (dlm.landmarks.onnx_runtime).  None: `default_runtime`.
RUNTIMES = ("xla", "onnxruntime")


def default_runtime(module) -> str:
    """$DLM_RUNTIME when set (xla or onnxruntime), else ONNX Runtime where JAX computes on the CPU and
    ONNX Runtime is installed and runs this network (0.65-0.77x XLA's time per crop on one core, the same
    outputs to 1e-4 px), else XLA.  With an accelerator JAX's default, XLA runs the network there: ONNX
    Runtime here is its CPU provider, measured faster only against XLA on the same CPU."""
    env = os.environ.get("DLM_RUNTIME")
    if env:
        if env not in RUNTIMES:
            raise ValueError(f"DLM_RUNTIME must be one of {', '.join(RUNTIMES)}, not {env!r}")
        return env
    on_cpu = jax.default_backend() == "cpu"
    return "onnxruntime" if on_cpu and onnx_runtime.supports(module) and onnx_runtime.available() else "xla"

# Per-landmark loss weights lambda_i by region (Eq. 1), normalised to mean 1 over a set: the
# inner face (eyes, brows, nose, lips), where fitting needs precision, counts double the outline
# and half as much again as the cheeks; hidden-prone regions (back of the head, neck, teeth)
# count half, so they do not dominate the loss through their larger errors.
REGION_WEIGHTS = {"eye": 2.0, "eyelid": 2.0, "iris": 2.0, "pupil": 2.0, "lips": 2.0, "lips_inner": 2.0,
                  "brow": 1.5, "nose": 1.5, "face": 1.0, "jaw": 1.0, "ear": 0.75, "head": 0.5, "neck": 0.5,
                  "teeth_upper": 0.5, "teeth_lower": 0.5}


class WeightsError(ValueError):
    """A weights file that is missing, corrupt or does not match its manifest."""


def landmark_weights(region_names, overrides: dict | None = None) -> np.ndarray:
    """(L,) lambda_i of each landmark by its region (REGION_WEIGHTS, with `overrides`' regions
    replaced: {"jaw": 3.0}), normalised to mean 1.  An override naming a region the set lacks is a
    ValueError (a misspelt region would otherwise train with the defaults)."""
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(region_names))
    if unknown:
        raise ValueError(f"region weights for {', '.join(unknown)}: no such region in this landmark set "
                         f"(its regions: {', '.join(sorted(set(region_names)))})")
    table = dict(REGION_WEIGHTS, **{k: float(v) for k, v in overrides.items()})
    if any(v < 0 for v in table.values()) or not any(table.get(r, 1.0) > 0 for r in region_names):
        raise ValueError("region weights must be >= 0 and not all zero")
    w = np.array([table.get(r, 1.0) for r in region_names], np.float32)
    return w / w.mean()


def normalise(pixels: jax.Array, size: int) -> jax.Array:
    """Crop pixels [0, S] -> [-1, 1]."""
    return pixels / size * 2.0 - 1.0


def to_pixels(out: jax.Array, size: int, xp=jnp):
    """Network output (..., L, 3) -> mu (..., L, 2) pixels, sigma (..., L) pixels.  xp: the array
    module (numpy for ONNX Runtime's host arrays: no eager JAX ops)."""
    return (out[..., :2] + 1.0) * size / 2.0, xp.exp(out[..., 2]) * size / 2.0


def gnll_loss(out: jax.Array, target: jax.Array, weights: jax.Array) -> jax.Array:
    """Eq. 1 per sample: sum_i lambda_i (log sigma_i^2 + |mu_i - mu'_i|^2 / (2 sigma_i^2)), in
    normalised units, averaged over the batch (and divided by L so the scale does not depend on
    the landmark count).  out: (B, L, 3); target: (B, L, 2) normalised; weights: (L,)."""
    log_sigma = out[..., 2]
    sq = jnp.sum((out[..., :2] - target) ** 2, -1)
    per = 2.0 * log_sigma + 0.5 * sq * jnp.exp(-2.0 * log_sigma)
    return jnp.mean(jnp.sum(weights * per, -1)) / out.shape[-2]


def l2_loss(out: jax.Array, target: jax.Array, weights: jax.Array) -> jax.Array:
    """The ablation: weighted squared position error only (sigma is not trained)."""
    sq = jnp.sum((out[..., :2] - target) ** 2, -1)
    return jnp.mean(jnp.sum(weights * sq, -1)) / out.shape[-2]


LOSSES = {"gnll": gnll_loss, "l2": l2_loss}


# ---------------------------------------------------------------------------------------------
# Weights files.

def _flatten(tree, prefix="", leaf=np.asarray):
    """{"a/b/c": leaf(value)} of a nested mapping (flax's variables, or their shapes from eval_shape)."""
    out = {}
    for k, v in tree.items():
        key = f"{prefix}/{k}" if prefix else k
        if isinstance(v, Mapping):
            out.update(_flatten(v, key, leaf))
        else:
            out[key] = leaf(v)
    return out


def _unflatten(flat):
    tree: dict = {}
    for key, v in flat.items():
        node = tree
        parts = key.split("/")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = v
    return tree


def sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def save_weights(path, variables: dict, config: dict, metrics: dict | None = None, extra: dict | None = None) -> dict:
    """Write `path` (.npz, float16 arrays) and `path` with .json (manifest); both atomically."""
    path = Path(path)
    flat = {k: v.astype(np.float16) for k, v in _flatten(jax.device_get(variables)).items()}
    write_npz_deterministic(path, flat)
    manifest = dict(format="dlm-landmark-weights/1", weights_file=path.name, sha256=sha256(path),
                    dtype="float16", config=config, git_revision=git_revision(), metrics=metrics or {},
                    arrays={k: list(v.shape) for k, v in flat.items()}, **(extra or {}))
    write_json(path.with_suffix(".json"), manifest)
    return manifest


def load_weights(path) -> tuple[dict, dict]:
    """(variables as float32, manifest); raises WeightsError naming the problem."""
    path = Path(path)
    mpath = path.with_suffix(".json")
    if not path.exists() or not mpath.exists():
        raise WeightsError(f"{path}: weights or manifest {mpath.name} missing")
    try:
        manifest = json.loads(mpath.read_text())
    except json.JSONDecodeError as e:
        raise WeightsError(f"{mpath}: not valid JSON ({e})") from None
    digest = sha256(path)
    if digest != manifest.get("sha256"):
        raise WeightsError(f"{path}: sha256 {digest[:12]}... does not match the manifest's "
                           f"{str(manifest.get('sha256'))[:12]}... (corrupt or replaced file)")
    with np.load(path, allow_pickle=False) as z:
        flat = {k: z[k].astype(np.float32) for k in z.files}
    want = manifest.get("arrays", {})
    if set(want) != set(flat) or any(list(flat[k].shape) != want[k] for k in flat):
        raise WeightsError(f"{path}: arrays do not match the manifest")
    return _unflatten(flat), manifest


# ---------------------------------------------------------------------------------------------
# Prediction.

class Predictor:
    """A network with its weights: `predictor(crops)` -> mu (B, L, 2) px, sigma (B, L) px."""

    def __init__(self, network: str, num_landmarks: int, size: int, variables: dict, landmark_set: str,
                 manifest: dict | None = None, runtime: str | None = None):
        self.module = nets.make_network(network, num_landmarks)
        runtime = default_runtime(self.module) if runtime is None else runtime
        if runtime not in RUNTIMES:
            raise ValueError(f"runtime must be one of {', '.join(RUNTIMES)}, not {runtime!r}")
        self.network, self.size, self.landmark_set, self.runtime = network, size, landmark_set, runtime
        self.num_landmarks = num_landmarks
        self.variables = jax.tree_util.tree_map(jnp.asarray, variables)
        self.manifest = manifest or {}
        # The pure function (variables, crops) -> (mu, sigma), for callers that pass other weights.
        self.predict_fn = functools.partial(_predict, self.module, size=size)
        # crops -> (mu, sigma) with these weights bound in, for callers that compile it into a larger
        # program (the tracker's landmarks-then-fit step) and for `__call__`.  Traced, the weights are
        # the program's constants rather than its arguments, and XLA:CPU then prepares them once when
        # it compiles instead of at every call: one crop on one pinned core of the 2-core AMD EPYC
        # (session 54, interleaved rounds while training shared the machine) 1.68 against 2.07 ms for
        # the real-time network, 4.92 against 5.48 ms for the offline one; the same compile time.
        self.apply_fn = functools.partial(_predict_bound, self.predict_fn, self.variables)
        self._apply = jax.jit(self.apply_fn)
        # Check every parameter's shape against the network now, not at the first image.
        got = _flatten(self.variables, leaf=lambda a: list(np.shape(a)))
        if network_shapes(self.module, network, num_landmarks, size) != got:
            raise WeightsError(f"weights do not fit network {network} with {num_landmarks} landmarks at {size} px")
        # runtime "onnxruntime": `__call__` runs the same network in ONNX Runtime (dlm.landmarks.onnx_runtime:
        # 0.67-0.74x XLA's time per crop on one core); `apply_fn` stays XLA's, for compiled callers.
        self._onnx = None
        if runtime == "onnxruntime":
            if not onnx_runtime.supports(self.module):
                raise ValueError(f"runtime onnxruntime: network {network} is not one it runs (MobileNetV2, pooled head)")
            if not onnx_runtime.available():
                raise RuntimeError("runtime onnxruntime needs the onnx and onnxruntime packages "
                                   "(pip install onnx onnxruntime)")
            graph = functools.partial(onnx_runtime.mobilenetv2_graph, self.module, variables, size)
            # The float graph only when float crops come (the product's crops are uint8).
            self._onnx = onnx_runtime.OnnxNetwork(graph, uint8_graph=graph(uint8_input=True))

    @classmethod
    def load(cls, name_or_path, runtime: str | None = None) -> "Predictor":
        path = Path(name_or_path)
        if not path.suffix:
            path = WEIGHTS_DIR / f"{SHIPPED.get(str(name_or_path), str(name_or_path))}.npz"
        variables, manifest = load_weights(path)
        c = manifest["config"]
        return cls(c["network"], int(c["num_landmarks"]), int(c["size"]), variables, c["landmark_set"], manifest,
                   runtime=runtime)

    def __call__(self, crops) -> tuple[jax.Array, jax.Array]:
        shape = np.shape(crops)
        if len(shape) != 4 or shape[1:] != (self.size, self.size, 3):
            raise ValueError(f"crops must be (B, {self.size}, {self.size}, 3), got {tuple(shape)}")
        if self._onnx is not None:
            return to_pixels(self._onnx(crops), self.size, xp=np)
        return self._apply(crops)


def network_shapes(module, network: str, num_landmarks: int, size: int) -> dict:
    """{parameter path: shape} of `module` (made by `nets.make_network(network, num_landmarks)`) at
    `size` px.  Tracing flax's init for them took ~0.7 s of every process's first network, so they
    are kept in $DLM_CACHE/network_shapes, named by the network and the source of `nets`."""
    key = hashlib.sha256(repr((network, num_landmarks, size)).encode() + Path(nets.__file__).read_bytes())
    path = Path(cache_dir("network_shapes", f"{network}-{key.hexdigest()[:16]}.json"))
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        pass
    tree = jax.eval_shape(lambda: module.init(jax.random.key(0), jnp.zeros((1, size, size, 3), jnp.float32)))
    shapes = _flatten(tree, leaf=lambda a: list(a.shape))
    try:
        write_json(path, shapes)
    except OSError:   # a read-only cache costs the trace again next time, nothing more
        pass
    return shapes


def _predict_bound(predict_fn, variables, images):
    return predict_fn(variables, images)


def _predict(module, variables, images, size):
    # uint8 is scaled inside the compiled function (eager ops cost more than the network's
    # first layers on one CPU thread).
    if images.dtype == jnp.uint8:
        images = images.astype(jnp.float32) / 255.0
    out = module.apply(variables, images, train=False)
    return to_pixels(out, size)


def resolve_shipped(name: str) -> str:
    """The shipped model a name stands for.  "offline" falls back to "realtime" (with a warning)
    while no offline model is shipped, so every command works with what is installed."""
    if name in SHIPPED and not (WEIGHTS_DIR / f"{SHIPPED[name]}.npz").exists() and name == "offline":
        warnings.warn("no offline landmark model is shipped yet; using the real-time model", stacklevel=3)
        return "realtime"
    return name


@functools.lru_cache(maxsize=4)
def _shipped(name: str) -> Predictor:
    return Predictor.load(resolve_shipped(name))


def shipped(name: str) -> Predictor:
    """A shipped model by name ("realtime", "offline") or a weights path, loaded once per process."""
    return _shipped(str(name))


def predict_landmarks(image_crop, model="realtime"):
    """mu (L, 2) in crop pixels and sigma (L,) in pixels for one square crop (S, S, 3), uint8 RGB
    or float in [0, 1].  A crop of another size is resized to the network's input and the result
    scaled back.  model: "realtime", "offline", a weights path, or a `Predictor`."""
    pred = model if isinstance(model, Predictor) else _shipped(str(model))
    img = np.asarray(image_crop)
    if img.ndim != 3 or img.shape[2] != 3 or img.shape[0] != img.shape[1]:
        raise ValueError(f"image_crop must be a square (S, S, 3) RGB array, got shape {img.shape}")
    scale = img.shape[0] / pred.size
    if img.shape[0] != pred.size:
        interp = cv2.INTER_AREA if scale > 1 else cv2.INTER_LINEAR
        img = cv2.resize(img, (pred.size, pred.size), interpolation=interp)
    mu, sigma = pred(img[None])
    return np.asarray(mu[0]) * scale, np.asarray(sigma[0]) * scale
