"""The landmark network run by ONNX Runtime instead of XLA (issue 20: the tracked frame's largest cost).

On one pinned core of the project's 2-core AMD EPYC, idle, the same MobileNetV2 on the same crop took
0.67x (real-time, 128 px) and 0.74x (offline, 160 px) of XLA:CPU's time in ONNX Runtime's CPU provider
(`experiments/network_runtime_ab.py`, session 59; OpenCV's DNN module 0.93-1.05x): its convolution kernels
(depthwise ones above all) beat what XLA:CPU generates for these layers.  `Predictor(runtime="onnxruntime")`
runs the network so; the graph is written here from the weights themselves (batch norm folded into the
convolutions, XLA's SAME padding, the head's sigma offset folded into its bias), so there is no second
weights file to keep in step.  Needs the `onnx` (to write the graph) and `onnxruntime` packages.
"""
from __future__ import annotations

import importlib.util
import os

import numpy as np

from dlm.landmarks import nets

EPS = 1e-5   # flax BatchNorm's epsilon


def available() -> bool:
    """Both packages importable (checked without importing them)."""
    return all(importlib.util.find_spec(m) is not None for m in ("onnx", "onnxruntime"))


def supports(module) -> bool:
    """The networks written here: MobileNetV2 with the pooled head (every shipped network)."""
    return isinstance(module, nets.MobileNetV2) and not module.head_spatial


def mobilenetv2_graph(module, variables: dict, size: int, uint8_input: bool = False) -> bytes:
    """ONNX bytes computing the network's raw output (B, L, 3) (x, y normalised, log sigma) from
    NHWC float32 crops (B, size, size, 3) in [0, 1]; the batch is any size.  uint8_input: the crops
    are uint8 (0-255), cast and scaled by 1/255 inside the graph (the same float32 product numpy's
    `astype(float32) * float32(1 / 255)` makes, so the same outputs), which spares the caller a
    float copy of the crop: 0.95x the call's time for the real-time network's 128-px crop on one
    core (session 66)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    if not supports(module):
        raise ValueError(f"{type(module).__name__}: only MobileNetV2 networks with the pooled head are written")
    to_np = lambda t: {k: to_np(v) if isinstance(v, dict) else np.asarray(v, np.float32) for k, v in t.items()}  # noqa: E731
    params, stats = to_np(variables["params"]), to_np(variables["batch_stats"])
    nodes, inits = [], []

    def const(arr, dtype=np.float32):
        name = f"c{len(inits)}"
        inits.append(numpy_helper.from_array(np.ascontiguousarray(np.asarray(arr, dtype)), name))
        return name

    def node(op, inputs, **attrs):
        out = f"t{len(nodes)}"
        nodes.append(helper.make_node(op, inputs, [out], **attrs))
        return out

    def conv_bn(x, hw, kernel, bn_p, bn_s, stride=1, depthwise=False, act=True):
        scale = bn_p["scale"] / np.sqrt(bn_s["var"] + EPS)
        bias = bn_p["bias"] - bn_s["mean"] * scale
        # HWIO (dense) or HWC (depthwise) -> OIHW, scaled per output channel.
        w = np.transpose(kernel, (2, 0, 1))[:, None] if depthwise else np.transpose(kernel, (3, 2, 0, 1))
        w = w * scale[:, None, None, None]
        k = w.shape[-1]
        out, lo, hi = nets._same_padding(hw, stride, k)   # XLA's SAME, as dlm pads
        y = node("Conv", [x, const(w), const(bias)], strides=[stride, stride], pads=[lo, lo, hi, hi],
                 group=w.shape[0] if depthwise else 1, kernel_shape=[k, k])
        return (node("Clip", [y, const(0.0), const(6.0)]) if act else y), out

    x = "crops"
    if uint8_input:
        x = node("Mul", [node("Cast", [x], to=TensorProto.FLOAT), const(np.float32(1.0 / 255.0))])
    # (x - mean) / std as one multiply-add, on NCHW.
    x = node("Transpose", [x], perm=[0, 3, 1, 2])
    x = node("Mul", [x, const(1.0 / np.asarray(nets.STD).reshape(1, 3, 1, 1))])
    x = node("Sub", [x, const((np.asarray(nets.MEAN) / np.asarray(nets.STD)).reshape(1, 3, 1, 1))])
    y, hw = conv_bn(x, size, params["Conv_0"]["kernel"], params["BatchNorm_0"], stats["BatchNorm_0"], stride=2)
    strides = [s if i == 0 else 1 for t, c, n, s in module.blocks for i in range(n)]
    for i, stride in enumerate(strides):
        p, b = params[f"InvertedResidual_{i}"], stats[f"InvertedResidual_{i}"]
        expand = "Conv_1" in p                       # the block's first 1 x 1 (absent when t = 1)
        j = 1 if expand else 0
        z = y
        cin = p["Conv_0"]["kernel"].shape[2]       # the block's input channels
        if expand:
            z, _ = conv_bn(z, hw, p["Conv_0"]["kernel"], p["BatchNorm_0"], b["BatchNorm_0"])
        z, hw2 = conv_bn(z, hw, p["DepthwiseConv3x3_0"]["kernel"], p[f"BatchNorm_{j}"], b[f"BatchNorm_{j}"],
                         stride=stride, depthwise=True)
        proj = p["Conv_1" if expand else "Conv_0"]["kernel"]
        z, _ = conv_bn(z, hw2, proj, p[f"BatchNorm_{j + 1}"], b[f"BatchNorm_{j + 1}"], act=False)
        y = node("Add", [z, y]) if stride == 1 and cin == proj.shape[3] else z
        hw = hw2
    y, _ = conv_bn(y, hw, params["Conv_1"]["kernel"], params["BatchNorm_1"], stats["BatchNorm_1"])
    y = node("Flatten", [node("GlobalAveragePool", [y])], axis=1)
    dense = params["LandmarkHead_0"]["Dense_0"]
    bias = dense["bias"].copy()
    bias[2::3] += np.log(0.2)                      # LandmarkHead's sigma offset
    flat = node("Gemm", [y, const(dense["kernel"]), const(bias)])
    nodes.append(helper.make_node("Reshape", [flat, const([0, -1, 3], np.int64)], ["out"]))
    num = dense["kernel"].shape[1] // 3
    graph = helper.make_graph(
        nodes, type(module).__name__,
        [helper.make_tensor_value_info("crops", TensorProto.UINT8 if uint8_input else TensorProto.FLOAT,
                                       ["batch", size, size, 3])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["batch", num, 3])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


class OnnxNetwork:
    """crops (B, S, S, 3) uint8 or float32 in [0, 1] -> raw output (B, L, 3) float32, run by ONNX
    Runtime's CPU provider with one thread per core this process may use (the tracker pins one).
    graph: `mobilenetv2_graph`'s float32 graph, or a function that makes it when the first float
    crops come; uint8_graph: the same network's uint8_input graph, which then runs uint8 crops as
    they are (without it they are scaled here)."""

    def __init__(self, graph, threads: int | None = None, uint8_graph: bytes | None = None):
        self._graph, self._threads, self._float_session = graph, threads, None
        if not callable(graph):
            self._float_session = self._session(graph, threads)
        self.uint8_session = None if uint8_graph is None else self._session(uint8_graph, threads)

    @property
    def session(self):
        """The float32 graph's session (made on first use when the graph was given as a function)."""
        if self._float_session is None:
            self._float_session = self._session(self._graph(), self._threads)
        return self._float_session

    @staticmethod
    def _session(graph: bytes, threads: int | None):
        import onnxruntime as ort
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or len(os.sched_getaffinity(0))
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3      # its notes on the graph are nothing a user can act on
        return ort.InferenceSession(graph, opts, providers=["CPUExecutionProvider"])

    def __call__(self, crops) -> np.ndarray:
        crops = np.asarray(crops)
        if crops.dtype == np.uint8 and self.uint8_session is not None:
            return self.uint8_session.run(None, {"crops": crops})[0]
        x = crops.astype(np.float32) * np.float32(1.0 / 255.0) if crops.dtype == np.uint8 else \
            np.ascontiguousarray(crops, np.float32)
        return self.session.run(None, {"crops": x})[0]
