"""The shipped landmark networks run by OpenCV's DNN module and ONNX Runtime against dlm's XLA program,
one crop, one pinned core, one thread each, in one process (issue 20: is XLA:CPU the network's cost, or
the network?).

    python experiments/network_runtime_ab.py --core 1 --json experiments/results/network_runtime_ab.json

Each network (`--weights`, default the shipped real-time and offline networks) is written as an ONNX
graph from its own weights (`dlm.landmarks.onnx_runtime.mobilenetv2_graph`: batch norm folded into the
convolutions, XLA's SAME padding, the head's sigma offset folded into its bias) and read by `cv2.dnn`
(OpenCV's own CPU backend, one thread) and, when the onnxruntime package is importable, by ONNX Runtime's
CPU provider (one intra- and inter-op thread, sequential execution, every graph optimisation).  All
runtimes read the same uint8 crop; their raw outputs must agree (checked, max difference recorded)
before either is timed.  Timing: interleaved rounds (order reversed every other round) of `--calls`
calls each, medians of the rounds' medians; XLA's program holds the weights as constants, as the
tracker's does, and includes the uint8 -> float scaling, as the others' calls do.
Writes each network's medians and their ratios to XLA's with the CPU named; exits 0 whichever is faster.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", nargs="+", default=["realtime", "offline"],
                    help="shipped network names or weights files (.npz); default: realtime offline")
    ap.add_argument("--core", type=int, default=None, help="the core to pin to (default: the last allowed)")
    ap.add_argument("--rounds", type=int, default=12)
    ap.add_argument("--calls", type=int, default=60, help="calls per runtime per round")
    ap.add_argument("--json", help="write the figures here (default experiments/results/network_runtime_ab.json)")
    args = ap.parse_args(argv)
    for w in args.weights:
        if w.endswith(".npz") and not os.path.isfile(os.path.expanduser(w)):
            print(f"network_runtime_ab: {w}: no such weights file", file=sys.stderr)
            return 2
    import importlib.util
    if importlib.util.find_spec("onnx") is None:
        print("network_runtime_ab: needs the onnx package to write the graphs (pip install onnx onnxruntime)", file=sys.stderr)
        return 2
    import common
    core = common.one_core(args.core)     # before JAX starts
    started = time.time()
    import cv2
    import jax
    import jax.numpy as jnp
    import numpy as np
    from dlm.io.provenance import cpu_name
    from dlm.landmarks import onnx_runtime
    from dlm.landmarks import predictor as lmk

    try:
        import onnxruntime as ort
    except ImportError:
        ort = None
    cv2.setNumThreads(1)
    results = {"cpu": cpu_name(), "core": core, "opencv": cv2.__version__, "jax": jax.__version__,
               "onnxruntime": ort.__version__ if ort is not None else None, "networks": {}}
    for w in args.weights:
        pred = lmk.Predictor.load(os.path.expanduser(w)) if w.endswith(".npz") else lmk.shipped(w)
        try:
            blob = onnx_runtime.mobilenetv2_graph(pred.module, pred.variables, pred.size)
        except ValueError as e:
            print(f"network_runtime_ab: {e}", file=sys.stderr)
            return 2
        net = cv2.dnn.readNetFromONNX(np.frombuffer(blob, np.uint8))
        net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
        net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
        crop = np.random.default_rng(0).integers(0, 256, (1, pred.size, pred.size, 3), dtype=np.uint8)
        variables, module = pred.variables, pred.module
        xla = jax.jit(lambda im: module.apply(variables, im.astype(jnp.float32) / 255.0, train=False))

        def run_xla(im):
            return np.asarray(jax.block_until_ready(xla(im)))

        def run_cv(im):
            net.setInput(im.astype(np.float32) * np.float32(1.0 / 255.0))
            return net.forward().reshape(1, -1, 3)

        runners = [("xla", run_xla), ("opencv_dnn", run_cv)]
        if ort is not None:
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = opts.inter_op_num_threads = 1
            opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
            opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            session = ort.InferenceSession(blob, opts, providers=["CPUExecutionProvider"])

            def run_ort(im):
                return session.run(None, {"crops": im.astype(np.float32) * np.float32(1.0 / 255.0)})[0]
            runners.append(("onnxruntime", run_ort))
        ref = run_xla(crop)
        diffs = {}
        for name, fn in runners[1:]:
            diffs[name] = float(np.abs(fn(crop) - ref).max())
            if not diffs[name] < 1e-3 * max(1.0, float(np.abs(ref).max())):
                print(f"network_runtime_ab: {w}: {name}'s output differs from XLA's by {diffs[name]:.3g}: the graph "
                      "is wrong", file=sys.stderr)
                return 1
        diff = max(diffs.values())
        rounds = {name: [] for name, _ in runners}
        for r in range(args.rounds):
            order = runners[r % len(runners):] + runners[:r % len(runners)]
            for name, fn in (order if r % 2 == 0 else order[::-1]):
                t = []
                for _ in range(args.calls):
                    t0 = time.perf_counter()
                    fn(crop)
                    t.append(time.perf_counter() - t0)
                rounds[name].append(1e3 * float(np.median(t)))
        med = {k: float(np.median(v)) for k, v in rounds.items()}
        results["networks"][w] = dict(network=pred.network, size=pred.size, max_abs_output_difference=diff,
                                      max_abs_output_difference_by_runtime=diffs,
                                      xla_median_ms=med["xla"], opencv_dnn_median_ms=med["opencv_dnn"],
                                      opencv_over_xla=med["opencv_dnn"] / med["xla"], round_medians_ms=rounds)
        if "onnxruntime" in med:
            results["networks"][w].update(onnxruntime_median_ms=med["onnxruntime"],
                                          onnxruntime_over_xla=med["onnxruntime"] / med["xla"])
        print(f"{w} ({pred.network}, {pred.size} px): " + ", ".join(f"{k} {v:.3f} ms ({v / med['xla']:.3f}x)"
                                                                   for k, v in med.items())
              + f"; outputs agree to {diff:.2g}")
    common.record("network_runtime_ab", dict(weights=args.weights, rounds=args.rounds, calls=args.calls, core=core),
                  results, out=args.json, started=started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
