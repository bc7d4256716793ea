"""Landmark networks (Flax): ResNet-18/34/50/101 and MobileNetV2 backbones with a head that
outputs three numbers per landmark: x, y in [-1, 1] (the crop [0, S] normalised) and log sigma
(sigma in the same normalised units), as in Section 3.1 of the paper.

Images enter as (B, S, S, 3) float32 in [0, 1]; any S divisible by 32.  Variants are
`functools.partial`s of two modules (`RESNETS`, `MobileNetV2`); `make_network(name, L)` builds one.
"""
from __future__ import annotations

import functools
from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

# ImageNet-style input normalisation (the networks start from random weights; this only
# centres the inputs).
MEAN = jnp.array([0.485, 0.456, 0.406])
STD = jnp.array([0.229, 0.224, 0.225])


def _same_padding(n: int, stride: int, k: int) -> tuple[int, int, int]:
    """(output size, low pad, high pad) of SAME padding as XLA computes it along one axis:
    total = max((out - 1) * stride + k - n, 0), the low half first."""
    out = -(-n // stride)
    total = max((out - 1) * stride + k - n, 0)
    return out, total // 2, total - total // 2


def _shifted_taps(xp: jax.Array, kh: int, kw: int, ho: int, wo: int, stride: int):
    """The kh * kw shifted (and strided) views of a padded (B, H', W', C) input, row-major."""
    b, _, _, c = xp.shape
    return [jax.lax.slice(xp, (0, dy, dx, 0), (b, dy + (ho - 1) * stride + 1, dx + (wo - 1) * stride + 1, c),
                          (1, stride, stride, 1)) for dy in range(kh) for dx in range(kw)]


def _pad_same(x: jax.Array, stride: int, kh: int, kw: int):
    (ho, lh, hh), (wo, lw, hw) = _same_padding(x.shape[1], stride, kh), _same_padding(x.shape[2], stride, kw)
    return jnp.pad(x, ((0, 0), (lh, hh), (lw, hw), (0, 0))), ho, wo


def _depthwise_sum(xp: jax.Array, kernel: jax.Array, ho: int, wo: int, stride: int) -> jax.Array:
    out = None
    for t, tap in enumerate(_shifted_taps(xp, 3, 3, ho, wo, stride)):
        term = tap * kernel[t // 3, t % 3]
        out = term if out is None else out + term
    return out


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def depthwise_conv3x3(x: jax.Array, kernel: jax.Array, stride: int = 1) -> jax.Array:
    """3 x 3 depthwise convolution of (B, H, W, C) by (3, 3, C), SAME padding, as nine shifted
    multiply-adds.  XLA's grouped convolution runs at under 1 GFLOP/s on these CPUs; this form is
    about twenty times faster and equal to it (tested against `lax.conv_general_dilated`, value
    and gradient).  The gradient is written by hand (`_depthwise_bwd`): autodiff of the slices
    writes one padded full-size tensor per tap, a third of a MobileNet training step."""
    xp, ho, wo = _pad_same(x, stride, 3, 3)
    return _depthwise_sum(xp, kernel, ho, wo, stride)


def _depthwise_fwd(x, kernel, stride):
    return depthwise_conv3x3(x, kernel, stride), (x, kernel)


def _depthwise_bwd(stride, res, g):
    x, kernel = res
    _, h, w, c = x.shape
    (ho, lh, _), (wo, lw, _) = _same_padding(h, stride, 3), _same_padding(w, stride, 3)
    # d/dx: the output gradient dilated by the stride (interior padding), padded so that a
    # stride-1 pass of the flipped kernel lands exactly on x's pixels (negative pads crop).
    zero = jnp.zeros((), g.dtype)
    gp = jax.lax.pad(g, zero, ((0, 0, 0), (2 - lh, h + lh - (ho - 1) * stride - 1, stride - 1),
                               (2 - lw, w + lw - (wo - 1) * stride - 1, stride - 1), (0, 0, 0)))
    dx = _depthwise_sum(gp, kernel[::-1, ::-1], h, w, 1)
    # d/dkernel: nine products reduced in one variadic reduction (one pass over x and g), over
    # H and W first so the batch axis is left to parallelise, then over the batch.
    xp, _, _ = _pad_same(x, stride, 3, 3)
    prods = [tap * g for tap in _shifted_taps(xp, 3, 3, ho, wo, stride)]
    sums = jax.lax.reduce(prods, [zero] * 9, lambda a, b: [u + v for u, v in zip(a, b)], (1, 2))
    dk = jnp.stack([s.sum(0) for s in sums]).reshape(3, 3, c)
    return dx, dk


depthwise_conv3x3.defvjp(_depthwise_fwd, _depthwise_bwd)


def conv2d(x: jax.Array, kernel: jax.Array, stride: int = 1) -> jax.Array:
    """Dense convolution of (B, H, W, Cin) by (kh, kw, Cin, Cout), SAME padding, as one matrix
    product: a 1 x 1 convolution is a dot over channels; a larger one concatenates its kh * kw
    shifted views (im2col) first.  On XLA:CPU both run 1.6-2x faster than `lax.conv`, forward and
    backward (tested equal to it in value and gradient)."""
    kh, kw, cin, cout = kernel.shape
    if kh == kw == 1:
        if stride > 1:
            x = x[:, ::stride, ::stride]
        b, h, w, _ = x.shape
        return (x.reshape(-1, cin) @ kernel.reshape(cin, cout)).reshape(b, h, w, cout)
    xp, ho, wo = _pad_same(x, stride, kh, kw)
    cols = jnp.concatenate(_shifted_taps(xp, kh, kw, ho, wo, stride), axis=-1)      # (B, Ho, Wo, kh*kw*Cin)
    return (cols.reshape(-1, kh * kw * cin) @ kernel.reshape(kh * kw * cin, cout)).reshape(x.shape[0], ho, wo, cout)


class Conv(nn.Module):
    """A bias-free SAME convolution computed by `conv2d`; its parameter ("kernel", (kh, kw, Cin,
    Cout), LeCun-normal) and its name in the tree (`Conv_i`) are those of `flax.linen.Conv`, so
    weights trained with either load into the other."""
    features: int
    kernel_size: tuple = (1, 1)
    strides: int = 1
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x):
        kernel = self.param("kernel", nn.initializers.lecun_normal(),
                            tuple(self.kernel_size) + (x.shape[-1], self.features))
        return conv2d(x.astype(self.dtype), kernel.astype(self.dtype), self.strides)


class DepthwiseConv3x3(nn.Module):
    stride: int = 1
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x):
        kernel = self.param("kernel", nn.initializers.variance_scaling(2.0, "fan_in", "normal", in_axis=(0, 1),
                                                                       out_axis=()), (3, 3, x.shape[-1]))
        return depthwise_conv3x3(x.astype(self.dtype), kernel.astype(self.dtype), self.stride)


class InvertedResidual(nn.Module):
    features: int
    stride: int
    expand: int
    train: bool = False
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x):
        norm = functools.partial(nn.BatchNorm, use_running_average=not self.train, momentum=0.9, dtype=self.dtype)
        y = x
        if self.expand != 1:
            y = Conv(x.shape[-1] * self.expand, dtype=self.dtype)(y)
            y = jnp.minimum(nn.relu(norm()(y)), 6.0)
        y = DepthwiseConv3x3(self.stride, self.dtype)(y)
        y = jnp.minimum(nn.relu(norm()(y)), 6.0)
        y = Conv(self.features, dtype=self.dtype)(y)
        if self.stride == 1 and x.shape[-1] == self.features:
            # Residual blocks start as the identity (zero-initialised last scale); a block
            # without a skip must not, or it would output zeros and silence the network.
            return norm(scale_init=nn.initializers.zeros)(y) + x
        return norm()(y)


def _make_divisible(v: float, divisor: int = 8) -> int:
    new = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new + divisor if new < 0.9 * v else new


class MobileNetV2(nn.Module):
    """MobileNetV2 (Sandler et al. 2018) with a landmark head."""
    num_landmarks: int
    width: float = 1.0
    last_features: int = 1280
    # The head's input: 0, the last feature map averaged over the image (as MobileNetV2 classifies);
    # N > 0, the map reduced to N channels per position and kept whole (`LandmarkHead.spatial`).
    head_spatial: int = 0
    dtype: Any = jnp.float32
    # (expansion t, channels c, repeats n, stride s) of the paper's Table 2.
    blocks: Sequence = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                        (6, 160, 3, 2), (6, 320, 1, 1))

    @nn.compact
    def __call__(self, x, train: bool = False):
        norm = functools.partial(nn.BatchNorm, use_running_average=not train, momentum=0.9, dtype=self.dtype)
        x = ((x - MEAN) / STD).astype(self.dtype)
        x = Conv(_make_divisible(32 * self.width), (3, 3), strides=2, dtype=self.dtype)(x)
        x = jnp.minimum(nn.relu(norm()(x)), 6.0)
        for t, c, n, s in self.blocks:
            for i in range(n):
                x = InvertedResidual(_make_divisible(c * self.width), s if i == 0 else 1, t, train, self.dtype)(x)
        x = Conv(_make_divisible(self.last_features * max(1.0, self.width)), dtype=self.dtype)(x)
        x = jnp.minimum(nn.relu(norm()(x)), 6.0)
        if self.head_spatial:
            return LandmarkHead(self.num_landmarks, self.head_spatial)(x)
        return LandmarkHead(self.num_landmarks)(jnp.mean(x, axis=(1, 2)))


class BasicBlock(nn.Module):
    features: int
    stride: int
    train: bool = False
    dtype: Any = jnp.float32
    expansion = 1

    @nn.compact
    def __call__(self, x):
        norm = functools.partial(nn.BatchNorm, use_running_average=not self.train, momentum=0.9, dtype=self.dtype)
        y = Conv(self.features, (3, 3), self.stride, dtype=self.dtype)(x)
        y = nn.relu(norm()(y))
        y = Conv(self.features, (3, 3), dtype=self.dtype)(y)
        y = norm(scale_init=nn.initializers.zeros)(y)
        if x.shape[-1] != self.features or self.stride != 1:
            x = norm()(Conv(self.features, (1, 1), self.stride, dtype=self.dtype)(x))
        return nn.relu(x + y)


class Bottleneck(nn.Module):
    features: int
    stride: int
    train: bool = False
    dtype: Any = jnp.float32
    expansion = 4

    @nn.compact
    def __call__(self, x):
        norm = functools.partial(nn.BatchNorm, use_running_average=not self.train, momentum=0.9, dtype=self.dtype)
        y = nn.relu(norm()(Conv(self.features, dtype=self.dtype)(x)))
        y = Conv(self.features, (3, 3), self.stride, dtype=self.dtype)(y)
        y = nn.relu(norm()(y))
        y = Conv(self.features * 4, dtype=self.dtype)(y)
        y = norm(scale_init=nn.initializers.zeros)(y)
        if x.shape[-1] != self.features * 4 or self.stride != 1:
            x = norm()(Conv(self.features * 4, (1, 1), self.stride, dtype=self.dtype)(x))
        return nn.relu(x + y)


class ResNet(nn.Module):
    """ResNet (He et al. 2016) with a landmark head."""
    num_landmarks: int
    stage_sizes: Sequence[int] = (2, 2, 2, 2)
    block: Any = BasicBlock
    width: int = 64
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x, train: bool = False):
        norm = functools.partial(nn.BatchNorm, use_running_average=not train, momentum=0.9, dtype=self.dtype)
        x = ((x - MEAN) / STD).astype(self.dtype)
        x = nn.Conv(self.width, (7, 7), 2, padding=[(3, 3), (3, 3)], use_bias=False, dtype=self.dtype)(x)
        x = nn.relu(norm()(x))
        x = nn.max_pool(x, (3, 3), (2, 2), padding="SAME")
        for i, n in enumerate(self.stage_sizes):
            for j in range(n):
                x = self.block(self.width * 2 ** i, 2 if i > 0 and j == 0 else 1, train, self.dtype)(x)
        return LandmarkHead(self.num_landmarks)(jnp.mean(x, axis=(1, 2)))


class LandmarkHead(nn.Module):
    """Dense layer to (B, L, 3): x, y (normalised) and log sigma.  Starts at the crop centre with
    sigma = 0.2 (a tenth of the crop), so the first GNLL steps are well scaled.

    spatial: 0, x is (B, C) pooled features; N > 0, x is the (B, H, W, C) feature map, reduced to N
    channels by a 1 x 1 convolution and flattened, so that where a feature is in the crop reaches
    the coordinates directly rather than only through what the channels encode after averaging."""
    num_landmarks: int
    spatial: int = 0

    @nn.compact
    def __call__(self, x):
        if self.spatial:
            x = conv2d(x.astype(jnp.float32), self.param("reduce", nn.initializers.lecun_normal(),
                                                         (1, 1, x.shape[-1], self.spatial)))
            x = x.reshape(x.shape[0], -1)
        out = nn.Dense(self.num_landmarks * 3, kernel_init=nn.initializers.normal(1e-3),
                       dtype=jnp.float32)(x.astype(jnp.float32))
        out = out.reshape(x.shape[0], self.num_landmarks, 3)
        return out.at[..., 2].add(jnp.log(0.2))


RESNETS = {
    "resnet18": functools.partial(ResNet, stage_sizes=(2, 2, 2, 2), block=BasicBlock),
    "resnet34": functools.partial(ResNet, stage_sizes=(3, 4, 6, 3), block=BasicBlock),
    "resnet50": functools.partial(ResNet, stage_sizes=(3, 4, 6, 3), block=Bottleneck),
    "resnet101": functools.partial(ResNet, stage_sizes=(3, 4, 23, 3), block=Bottleneck),
}
# The real-time network less four of its ten residual blocks (one each from the 32-, 64-, 96- and
# 160-channel stages, the four whose removal alone cost the dev photos least; session 57): 15% fewer
# operations per 128-px crop (XLA's cost analysis: 60.6 against 71.6 MFLOP), started from the shipped
# network by `remove_blocks` and fine-tuned (issue 20).
MOBILENETV2_D13 = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 2, 2), (6, 64, 3, 2), (6, 96, 2, 1), (6, 160, 2, 2),
                   (6, 320, 1, 1))

# The real-time network with half the channels in its last 1 x 1 convolution (640 for 1280), which halves
# the landmark head: the head's 1280 x 960 matrix was half the network's weights, read from memory at every
# crop.  Only 692 of the shipped network's 1280 channels vary over training draws by more than 1e-3; kept
# by `remove_last_channels` (the 640 that move the head most), the rest folded into the head's bias, the
# dev photos read 6.4752% against 6.4748% before any fine-tune (session 57).  The tracked frame gains from
# it only when another job competes for the caches (0.88x under training, 1.00x on an idle core).
MOBILENETV2_L640 = dict(width=0.5, last_features=640)
MOBILENETV2_L320 = dict(width=0.5, last_features=320)     # a quarter: 7.11% on the dev photos before fine-tuning
MOBILENETV2_D13_L640 = dict(MOBILENETV2_L640, blocks=MOBILENETV2_D13)

# The offline network with one residual block more in each of its 32-, 64-, 96- and 160-channel stages (21 blocks
# for 17; ~20% more operations per 160-px crop), grown from the shipped weights by `insert_blocks` so that its
# fine-tune starts where the shipped network is (issue 21: more capacity, the one thing the photo network's
# fine-tunes had not varied upward; the real-time network's four blocks less cost it 0.4 points).
MOBILENETV2_D21 = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 4, 2), (6, 64, 5, 2), (6, 96, 4, 1), (6, 160, 4, 2),
                   (6, 320, 1, 1))

NETWORKS = dict(RESNETS, mobilenetv2=MobileNetV2,
                mobilenetv2_d21=functools.partial(MobileNetV2, blocks=MOBILENETV2_D21),
                mobilenetv2_050=functools.partial(MobileNetV2, width=0.5),
                mobilenetv2_050_d13=functools.partial(MobileNetV2, width=0.5, blocks=MOBILENETV2_D13),
                mobilenetv2_050_l640=functools.partial(MobileNetV2, **MOBILENETV2_L640),
                mobilenetv2_050_l320=functools.partial(MobileNetV2, **MOBILENETV2_L320),
                mobilenetv2_050_d13_l640=functools.partial(MobileNetV2, **MOBILENETV2_D13_L640),
                mobilenetv2_050_spatial=functools.partial(MobileNetV2, width=0.5, head_spatial=64),
                tiny=functools.partial(MobileNetV2, width=0.25, last_features=64,
                                       blocks=((1, 16, 1, 1), (4, 24, 1, 2), (4, 32, 1, 2), (4, 64, 1, 2),
                                               (4, 96, 1, 2))))


def residual_blocks(blocks: Sequence) -> list[int]:
    """The inverted-residual blocks (0-based over the network, as flax numbers them) of a MobileNetV2
    block table that have a skip connection: every block but the first of each stage."""
    stage = [k for k, (_, _, n, _) in enumerate(blocks) for _ in range(n)]
    return [i for i in range(1, len(stage)) if stage[i] == stage[i - 1]]


def remove_blocks(variables: dict, blocks: Sequence, removed: Sequence[int]) -> tuple[dict, tuple]:
    """A MobileNetV2's variables ({'params', 'batch_stats'}) and block table (`MobileNetV2.blocks`)
    less the inverted-residual blocks numbered `removed` (0-based over the whole network, as flax
    names them), the rest renumbered.  Only blocks with a skip connection (not the first of a
    stage) can go: the network around them then still fits.  A residual block whose branch
    outputs zeros is the identity, so removing it leaves the network's function unchanged."""
    stage = [k for k, (_, _, n, _) in enumerate(blocks) for _ in range(n)]
    removed = sorted(set(int(i) for i in removed))
    for i in removed:
        if i not in residual_blocks(blocks):
            raise ValueError(f"block {i} is not a residual block of this network (the first of each stage "
                             f"changes shape; {len(stage)} blocks)")
    kept = [i for i in range(len(stage)) if i not in removed]
    table = tuple((t, c, sum(stage[i] == k for i in kept), s) for k, (t, c, _, s) in enumerate(blocks))

    def renumber(tree):
        out = {}
        for name, value in tree.items():
            if name.startswith("InvertedResidual_"):
                i = int(name.rsplit("_", 1)[1])
                if i in removed:
                    continue
                name = f"InvertedResidual_{kept.index(i)}"
            out[name] = value
        return out

    return {c: renumber(dict(v)) for c, v in variables.items()}, table


def insert_blocks(variables: dict, blocks: Sequence, fresh: dict, table: Sequence) -> dict:
    """A MobileNetV2's variables ({'params', 'batch_stats'}, block table `blocks`) grown to the block
    table `table`: the same stages (expansion, channels, stride), each with at least as many blocks.
    A stage's new blocks follow its old ones and take their variables from `fresh` (a newly
    initialised network of `table`, whose residual blocks start as the identity: their last batch
    norm's scale is zero); every other variable is the old network's, renumbered.  The grown
    network computes what the old one did, and a fine-tune gives the new blocks their use (the
    inverse of `remove_blocks`)."""
    if len(blocks) != len(table) or any(tuple(a[:2]) + (a[3],) != tuple(b[:2]) + (b[3],) or b[2] < a[2]
                                        for a, b in zip(blocks, table)):
        raise ValueError(f"{tuple(map(tuple, table))} is not {tuple(map(tuple, blocks))} with blocks added to its stages")
    starts = np.cumsum([0] + [n for _, _, n, _ in table])
    moved = {}
    i = 0
    for k, (_, _, n, _) in enumerate(blocks):
        for j in range(n):
            moved[i] = int(starts[k] + j)
            i += 1
    grown = {}
    for c, tree in fresh.items():
        out = {name: value for name, value in tree.items() if name.startswith("InvertedResidual_")}
        for name, value in variables[c].items():
            if name.startswith("InvertedResidual_"):
                name = f"InvertedResidual_{moved[int(name.rsplit('_', 1)[1])]}"
            elif name not in tree:
                raise ValueError(f"{c}/{name} is not a variable of the grown network")
            out[name] = value
        grown[c] = out
    return grown


def widen_blocks(variables: dict, blocks: Sequence, fresh: dict, table: Sequence) -> dict:
    """A MobileNetV2's variables (block table `blocks`) with more expanded channels (expansion t) in
    some stages of the block table `table` (the same stages, each t at least as large).  Each
    widened block keeps its old channels and takes its new ones' expansion, depthwise and batch-norm
    variables from `fresh` (a newly initialised network of `table`), with their rows of the block's
    projection zero: the new channels add nothing at first, so the wider network computes what the
    old one did and a fine-tune gives them their use."""
    if len(blocks) != len(table) or any(tuple(a[1:]) != tuple(b[1:]) or b[0] < a[0] or (a[0] == 1) != (b[0] == 1)
                                        for a, b in zip(blocks, table)):
        raise ValueError(f"{tuple(map(tuple, table))} is not {tuple(map(tuple, blocks))} with wider expansions")
    out = {c: dict(tree) for c, tree in variables.items()}
    for name, block in variables["params"].items():
        if not name.startswith("InvertedResidual_") or "Conv_1" not in block:
            continue        # an expansion-1 block has no expanded channels of its own to widen
        old_hidden = np.asarray(block["Conv_0"]["kernel"]).shape[-1]
        new_block = fresh["params"][name]
        hidden = np.asarray(new_block["Conv_0"]["kernel"]).shape[-1]
        if hidden == old_hidden:
            continue
        params = {}
        for layer, new_vars in new_block.items():
            old_vars = block[layer]
            params[layer] = {}
            for k, new in new_vars.items():
                old, new = np.asarray(old_vars[k]), np.asarray(new)
                if layer == "Conv_1":      # the projection: the new channels' rows are zero
                    params[layer][k] = np.concatenate([old, np.zeros(old.shape[:2] + (hidden - old_hidden,)
                                                                     + old.shape[3:], old.dtype)], axis=2)
                elif old.shape == new.shape:
                    params[layer][k] = old
                else:                      # a per-channel array or the expansion's output channels
                    params[layer][k] = np.concatenate([old, new[..., old.shape[-1]:].astype(old.dtype)], axis=-1)
        out["params"][name] = params
        stats = {}
        for layer, new_vars in fresh["batch_stats"][name].items():
            old_vars = variables["batch_stats"][name][layer]
            stats[layer] = {k: np.asarray(old_vars[k]) if np.shape(old_vars[k]) == np.shape(new) else
                            np.concatenate([np.asarray(old_vars[k]), np.asarray(new)[old_hidden:]
                                            .astype(np.asarray(old_vars[k]).dtype)]) for k, new in new_vars.items()}
        out["batch_stats"][name] = stats
    return out


def remove_last_channels(variables: dict, keep, pooled_mean) -> dict:
    """A MobileNetV2's variables with only the channels `keep` (indices) of its last 1 x 1
    convolution (`Conv_1`, `BatchNorm_1`) and the matching rows of the pooled landmark head.  Each
    channel removed is replaced by its mean over the images (`pooled_mean` (C,): the channel after
    batch norm, ReLU6 and the spatial mean): the head's bias takes mean x its row, so a channel
    that is that constant for every image is removed exactly."""
    keep = np.sort(np.asarray(keep))
    params, stats = dict(variables["params"]), dict(variables["batch_stats"])
    head = dict(params["LandmarkHead_0"])
    dense = dict(head["Dense_0"])
    kernel = np.asarray(dense["kernel"], np.float64)
    gone = np.setdiff1d(np.arange(kernel.shape[0]), keep)
    dense["bias"] = (np.asarray(dense["bias"], np.float64) + np.asarray(pooled_mean, np.float64)[gone] @ kernel[gone]
                     ).astype(np.asarray(dense["bias"]).dtype)
    dense["kernel"] = np.asarray(dense["kernel"])[keep]
    head["Dense_0"] = dense
    params["LandmarkHead_0"] = head
    params["Conv_1"] = {"kernel": np.asarray(params["Conv_1"]["kernel"])[..., keep]}
    params["BatchNorm_1"] = {k: np.asarray(v)[keep] for k, v in params["BatchNorm_1"].items()}
    stats["BatchNorm_1"] = {k: np.asarray(v)[keep] for k, v in stats["BatchNorm_1"].items()}
    return {"params": params, "batch_stats": stats}


def make_network(name: str, num_landmarks: int, **kwargs) -> nn.Module:
    if name not in NETWORKS:
        raise ValueError(f"unknown network {name!r}; choose one of {sorted(NETWORKS)}")
    return NETWORKS[name](num_landmarks=num_landmarks, **kwargs)


def init_variables(net: nn.Module, key: jax.Array, size: int = 64) -> dict:
    """A network's initial variables ({'params', 'batch_stats'}) as one compiled program.

    Run eagerly, flax's init compiles one program per layer operation; compiled whole with XLA's
    default optimisation it takes 14 s for MobileNetV2 and 9 s for `tiny` on the 2-core AMD EPYC,
    almost all of it optimising the random initialisers' code.  The program runs once, so on a CPU
    it is compiled unoptimised (`xla_backend_optimization_level` 0): 7.8 s and 2.0 s to compile,
    0.33 s and 0.01 s to run.  Its values are the optimised program's up to the last bit of a few
    per cent of the numbers (float rounding in the initialisers); the variables do not depend on
    `size` (convolutions and a pooled head), which only sets the shape traced."""
    init = functools.partial(net.init, train=False)
    options = {"xla_backend_optimization_level": 0} if jax.default_backend() == "cpu" else None
    return jax.jit(init, compiler_options=options)(key, jnp.zeros((1, size, size, 3)))
