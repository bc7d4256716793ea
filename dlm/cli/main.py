"""The `dlm` command line: the argument parser and the entry point.

This module imports neither JAX nor the library's code (only the realism switches' table,
`dlm.synth.switches`, which imports nothing): `main` parses, sets XLA's flags (--threads,
--devices: XLA reads them once, when JAX starts), and only then imports dlm.cli.commands, whose
handlers import everything at their top.  `dlm --help` and argument errors stay instant.
"""
from __future__ import annotations

import argparse
import os
import sys
from importlib import metadata
from pathlib import Path

from dlm.synth.switches import REALISM_SWITCHES

# The offline landmark model is the default once its weights ship (dlm.landmarks.predictor.SHIPPED
# names the file); until then the model that exists is, so a default run prints no fallback note.
DEFAULT_MODEL = ("offline" if (Path(__file__).resolve().parents[1] / "data" / "weights" / "offline_703.npz").exists()
                 else "realtime")


def _add_xla_flags(option: str, flags: str):
    """Append to XLA_FLAGS; XLA reads them once, when JAX starts, so `option` must come first."""
    if "jax" in sys.modules:
        raise RuntimeError(f"{option} must be set before JAX is imported")
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + flags).strip()


def _single_thread():
    """Pin to one core and ask XLA's CPU backend for one thread (call before importing jax)."""
    _add_xla_flags("--threads 1", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})


def _force_host_devices(n: int):
    """Split the CPU into n XLA devices (call before importing jax), for sharding on one host."""
    _add_xla_flags("--devices", f"--xla_force_host_platform_device_count={n}")
    os.environ.setdefault("JAX_PLATFORMS", "cpu")


def _int_at_least(low: int, text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if v < low:
        raise argparse.ArgumentTypeError(f"must be at least {low}, got {v}")
    return v


def non_negative_int(text: str) -> int:
    """argparse type: an integer >= 0."""
    return _int_at_least(0, text)


def non_negative_float(text: str) -> float:
    """argparse type: a finite number >= 0."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (v >= 0 and v != float("inf")):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return v


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1 (0 frames or 0 workers is a mistake, not a request)."""
    return _int_at_least(1, text)


def _version() -> str:
    try:
        return metadata.version("dlm")
    except metadata.PackageNotFoundError:   # run from a checkout that was not installed
        return "unknown (not installed)"


def build_parser():
    refit = ("the identity refits run on the frame that starts them (inline: one frame waits ~40 ms, the rest "
             "none) or in a background thread (every frame while it runs waits behind its chunks, but a camera's "
             "idle time between frames takes it); default: ")
    detector = dict(choices=["yunet", "none"], default="yunet",
                    help="where there is no track, look where this face detector proposes before the full search "
                         "(default yunet: third_party/yunet; none: the full search only)")
    ap = argparse.ArgumentParser(prog="dlm", description="Dense-landmark 3D face reconstruction in JAX.")
    ap.add_argument("--quiet", action="store_true", help="print nothing but errors")
    ap.add_argument("--version", action="version", version=f"dlm {_version()}")
    sub = ap.add_subparsers(dest="command", required=True)

    model = sub.add_parser("model", help="the face model").add_subparsers(dest="model_command", required=True)
    p = model.add_parser("info", help="counts, sizes, units and landmark sets")
    p.add_argument("--json", help="also write the information to this JSON file")
    p.set_defaults(func="cmd_model_info")
    p = model.add_parser("sample", help="write a random head (identity from the prior) as OBJ")
    p.add_argument("--seed", type=int, default=0, help="PRNG seed of the identity")
    p.add_argument("--scale", type=float, default=1.0, help="standard deviations of the identity draw")
    p.add_argument("--expression", nargs="*", metavar="NAME=WEIGHT", help="ARKit expression weights")
    p.add_argument("-o", "--output", required=True, help="output .obj path")
    p.add_argument("--json", help="also write a summary JSON here")
    p.set_defaults(func="cmd_model_sample")

    p = sub.add_parser("synth", help="render labelled synthetic faces: images/, masks/, labels.npz")
    p.add_argument("--num", type=int, default=16, help="number of images")
    p.add_argument("--size", type=int, default=256, help="square image size in pixels")
    p.add_argument("--seed", type=int, default=0, help="sample i is drawn from fold_in(key(seed), i)")
    p.add_argument("--landmarks", default="703", choices=["703", "320", "68", "all"],
                   help="landmark set to label; all: every set's landmarks (one dataset trains any set)")
    p.add_argument("--no-augment", action="store_true", help="no blur, noise, compression or colour changes")
    p.add_argument("--pool", action="store_true",
                   help="a training pool (dlm.synth.pool): memory-mapped arrays, every set's labels, no photometric "
                        "augmentation, the head at --crop-scale of its usual size; resumable (rerun the command)")
    p.add_argument("--crop-scale", type=float, default=0.8, help="with --pool: head size factor (default 0.8)")
    p.add_argument("--env-light", type=float, default=0.0, metavar="P",
                   help="with --pool: the share of samples lit by a real environment map (Poly Haven HDRIs, "
                        "third_party/polyhaven_hdri) that also shows behind the head (default 0)")
    for name, what in REALISM_SWITCHES.items():
        p.add_argument("--" + name.replace("_", "-"), action="store_true", help=f"with --pool: {what}")
    p.add_argument("--identity-sd", type=float, default=None, metavar="MAX",
                   help="with --pool: each head's identity coefficients drawn with a standard deviation uniform "
                        "between 1 (the face model's prior) and MAX, the same heads further from the mean face "
                        "(default: 1 for every head)")
    p.add_argument("--grow-from", metavar="POOL",
                   help="with --pool: a finished pool of the same settings and fewer samples; its samples are "
                        "copied as the first ones (the same seed draws the same samples) and only the rest rendered")
    p.add_argument("--out", required=True, help="output folder (must not exist or be empty)")
    p.add_argument("--json", help="also write a summary JSON here")
    p.set_defaults(func="cmd_synth")

    p = sub.add_parser("train", help="train a landmark network on synthetic data (resumable)")
    p.add_argument("config", help="experiments/configs/*.py with get_config()")
    p.add_argument("--workdir", help="checkpoints, metrics.jsonl, weights.npz (default $DLM_CACHE/runs/NAME, "
                                      "DLM_CACHE defaulting to ~/.cache/dlm)")
    p.add_argument("--steps", type=int, help="override the config's step count")
    p.add_argument("--minutes", type=float, help="train for this wall-clock budget, then checkpoint, evaluate, "
                                                 "export the weights and exit 0 (rerun to continue)")
    p.add_argument("--campaign-log", help="append this session's campaign line (samples, CPU hours, synthetic and "
                                          "dev-set NME, images/s, git revision) to this JSON-lines file")
    p.add_argument("--roi-auto", action="store_true",
                   help="with --campaign-log: also score dlm's own ROI search on the real photos (found %%, NME)")
    p.add_argument("--quick", action="store_true", help="train the tiny quick.py config instead (tests)")
    p.add_argument("--json", help="write the final test metrics here")
    p.set_defaults(func="cmd_train")

    ev = sub.add_parser("eval", help="evaluate landmark models").add_subparsers(dest="eval_command", required=True)
    p = ev.add_parser("synth", help="held-out synthetic test set: NME per region, sigma calibration")
    p.add_argument("--model", default="realtime", help="realtime, offline, or a weights .npz path")
    p.add_argument("--num", type=int, default=512)
    p.add_argument("--seed", type=int, default=1_000_003)
    p.add_argument("--json", help="write the figures to this JSON file")
    p.set_defaults(func="cmd_eval_synth")

    p = ev.add_parser("aflw2000", help="68-point NME on the AFLW2000-3D layout, by yaw bin")
    p.add_argument("dir", help="folder with imageXXXXX.jpg and imageXXXXX.mat")
    p.add_argument("--model", default=DEFAULT_MODEL,
                   help=f"realtime, offline, or a weights .npz path (default: {DEFAULT_MODEL})")
    p.add_argument("--roi", choices=["gt", "auto", "search"], default="gt",
                   help="gt: crop from the ground-truth landmark box; auto: as dlm reconstruct finds faces (the face "
                        "detector's boxes judged by the landmark network, then its full search); search: that full "
                        "search alone. No ground truth in auto and search: photos where no face is found count in "
                        "detection_rate")
    p.add_argument("--mirror", action="store_true",
                   help="average each face's landmarks with its mirror image's (one more network pass per face)")
    p.add_argument("--average", action="store_true",
                   help="average each face's landmarks over its crop turned by +-10 degrees and the mirror image of "
                        "each, as dlm reconstruct does (five more network passes per face)")
    p.add_argument("--no-label-translation", dest="label_translation", action="store_false",
                   help="compare ICT's 68 points as they are, not translated to AFLW2000-3D's definition by the "
                        "model's stored label translation (experiments/label_translation.py); with it, both are "
                        "reported")
    p.add_argument("--json", help="write the figures to this JSON file")
    p.set_defaults(func="cmd_eval_aflw2000")

    quiet = dict(action="store_true", default=argparse.SUPPRESS, help="print nothing but errors")
    model_help = "landmark model: offline, realtime, or a weights .npz path"
    p = sub.add_parser("reconstruct", help="fit the face model to photos: mesh, parameters, landmarks, overlay",
                       description="One fit per image (or one identity over all with --same-person). Writes "
                                   "OUT/<image name>/ mesh.obj, params.json, landmarks.json, overlay.png and "
                                   "OUT/summary.json. Exit status 1 if any input failed (the rest are still done); "
                                   "3 if all were reconstructed but some face's quality (the calibrated probability "
                                   "that it is the right face, in params.json and summary.json) is under --min-quality.")
    p.add_argument("images", nargs="*", metavar="IMAGE", help="image files or folders of images")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="output folder")
    p.add_argument("--example", action="store_true",
                   help="also reconstruct the example portrait that comes with scikit-image (NASA's public-domain "
                        "astronaut photo): try dlm with no photo of your own")
    p.add_argument("--same-person", action="store_true", help="fit one identity to all images")
    p.add_argument("--model", default=DEFAULT_MODEL, help=model_help + f" (default: {DEFAULT_MODEL})")
    p.add_argument("--max-faces", type=int, default=1, help="faces per image (OUT/<name>/face_<k>/ when > 1)")
    p.add_argument("--min-face", type=float, default=None,
                   help="smallest face searched for, pixels (default: a tenth of the shorter side, at least 24)")
    p.add_argument("--min-quality", type=float, default=None, metavar="Q",
                   help="warn and exit 3 when a face's quality is under Q, in (0, 1) (default: the model's "
                        "calibrated minimum, the largest that keeps 90%% of right faces on the dev photos; 0 turns it off)")
    p.add_argument("--json", help="also write the summary to this JSON file")
    p.add_argument("--mesh-frame", choices=["head", "camera"], default="head",
                   help="mesh.obj in the head's own frame (params.json's head_to_camera places it; default) or in "
                        "the camera frame")
    p.add_argument("--debug", action="store_true", help="print tracebacks of failed inputs")
    p.add_argument("--quiet", **quiet)
    p.set_defaults(func="cmd_reconstruct")

    p = sub.add_parser("track", help="real-time tracking of a video or webcam",
                       description="Writes OUT/frames.jsonl (per-frame parameters, landmarks, sigma, quality), blendshapes.csv (Live Link "
                                   "Face's CSV: ARKit's 52 weights in [0, 1] and head / eye rotations, one row per "
                                   "tracked frame), overlay.mp4, head.glb (animated glTF) and summary.json. Exit status 1 "
                                   "if no frame showed a face; 130 after Ctrl-C (the files then hold the frames "
                                   "read, and summary.json says interrupted).")
    p.add_argument("video", nargs="?", metavar="VIDEO", help="video file")
    p.add_argument("--webcam", type=int, metavar="N", help="track webcam N instead of a file (Ctrl-C stops)")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="output folder")
    p.add_argument("--model", default="realtime", help=model_help + " (default: realtime)")
    p.add_argument("--max-frames", type=positive_int, default=None, help="stop after this many frames")
    p.add_argument("--no-video", action="store_true", help="do not write overlay.mp4 (faster)")
    p.add_argument("--solver", choices=["jit", "exported"], default="jit",
                   help="real-time fitter: compiled here (jit) or the exported CPU artifact")
    p.add_argument("--min-quality", type=float, default=None, metavar="Q",
                   help="drop the track and search again when a frame's quality (calibrated probability that it "
                        "is the right face) is under Q (default: the model's calibrated minimum; 0: off)")
    p.add_argument("--max-search-gap", type=non_negative_int, default=8, metavar="N",
                   help="with no face in view, search again after 1, 2, 4 ... frames, at most N (default 8; "
                        "0: search every frame without a track)")
    p.add_argument("--refit", choices=["inline", "background"], default=None,
                   help=refit + "background for --webcam, inline for a file")
    p.add_argument("--detector", **detector)
    p.add_argument("--json", help="also write the summary to this JSON file")
    p.add_argument("--quiet", **quiet)
    p.set_defaults(func="cmd_track")

    p = sub.add_parser("capture", help="multi-view offline fitting: one identity, per-frame meshes",
                       description="Each CAM_DIR holds one camera's frames; the n-th image (sorted by name) of "
                                   "every folder is the same instant. Without --calibration the cameras are "
                                   "estimated (camera 0 fixes the world frame).")
    p.add_argument("cameras", nargs="+", metavar="CAM_DIR", help="one folder of frames per camera")
    p.add_argument("--calibration", help="calibration JSON (see dlm.fitting.calibration)")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="output folder")
    p.add_argument("--model", default=DEFAULT_MODEL, help=model_help + f" (default: {DEFAULT_MODEL})")
    p.add_argument("--max-frames", type=positive_int, default=None, help="use the first N frames")
    p.add_argument("--min-face", type=float, default=None, help="smallest face searched for, pixels")
    p.add_argument("--overlays", type=int, default=3, help="write overlays for the first N frames")
    p.add_argument("--mesh-frame", choices=["head", "world"], default="head",
                   help="mesh.obj in the head's own frame (params.json's head_to_world places it; default) or in "
                        "the world frame of cameras.json")
    p.add_argument("--temporal", type=float, default=None, metavar="W",
                   help="weight of the temporal smoothness term, stated for frames 320 px on their longer side "
                        "and scaled to yours (default 0.003; 0: frames independent but for the shared identity). "
                        "The frames must be consecutive instants; for unordered photos of one person use "
                        "`dlm reconstruct --same-person`")
    p.add_argument("--json", help="also write the summary to this JSON file")
    p.add_argument("--quiet", **quiet)
    p.set_defaults(func="cmd_capture")

    p = sub.add_parser("batch", help="reconstruct many photos in batches (resumable)",
                       description="Inputs: files, folders, globs ('photos/**/*.jpg', quoted) or .txt lists. "
                                   "Writes the files of `dlm reconstruct` per input; a rerun skips finished "
                                   "inputs. Exit status 1 if any input failed.")
    p.add_argument("inputs", nargs="+", metavar="INPUT_GLOB_OR_LIST")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="output folder")
    p.add_argument("--model", default=DEFAULT_MODEL, help=model_help + f" (default: {DEFAULT_MODEL})")
    p.add_argument("--fitter", choices=["offline", "realtime"], default="offline",
                   help="offline: full fit with identity; realtime: pose and expression LM, mean identity")
    p.add_argument("--batch-size", type=positive_int, default=64,
                   help="images per fitting batch (padded to 1/8/64/...; default %(default)s)")
    p.add_argument("--workers", type=positive_int, default=4, help="image-decoding threads (default %(default)s)")
    p.add_argument("--mesh-frame", choices=["head", "camera"], default="head",
                   help="mesh.obj in the head's own frame (params.json's head_to_camera places it; default) or in "
                        "the camera frame")
    p.add_argument("--min-face", type=float, default=None, help="smallest face searched for, pixels")
    p.add_argument("--json", help="also write the summary to this JSON file")
    p.add_argument("--quiet", **quiet)
    p.set_defaults(func="cmd_batch")

    bench = sub.add_parser("bench", help="benchmarks").add_subparsers(dest="bench_command", required=True)
    p = bench.add_parser("model", help="time the posed mesh and landmark-only evaluation")
    p.add_argument("--repeats", type=int, default=100)
    p.add_argument("--threads", type=int, choices=[0, 1], default=1,
                   help="1: pin to one core, one XLA thread (default); 0: leave as is")
    p.add_argument("--json", help="write the figures to this JSON file")
    p.set_defaults(func="cmd_bench_model")
    p = bench.add_parser("fit", help="time the real-time and offline fitters")
    p.add_argument("--part", choices=["realtime", "offline", "all"], default="realtime")
    p.add_argument("--repeats", type=int, default=100)
    p.add_argument("--frames", type=int, default=100, help="offline: frames")
    p.add_argument("--cameras", type=int, default=4, help="offline: cameras")
    p.add_argument("--threads", type=int, choices=[0, 1], default=1,
                   help="1: pin to one core, one XLA thread (default); 0: leave as is")
    p.add_argument("--json", help="write the figures to this JSON file")
    p.set_defaults(func="cmd_bench_fit")
    p = bench.add_parser("synth", help="rendered and labelled training images per second")
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--batches", type=int, default=8, help="timed batches after warm-up")
    p.add_argument("--landmarks", default="703", choices=["703", "320", "68"])
    p.add_argument("--no-augment", action="store_true")
    p.add_argument("--env-light", type=float, default=0.0, metavar="P",
                   help="share of samples lit by an environment map (as dlm synth --pool --env-light)")
    for name in REALISM_SWITCHES:
        flag = "--" + name.replace("_", "-")
        p.add_argument(flag, action="store_true", help=f"as dlm synth --pool {flag}")
    p.add_argument("--json", help="write the figures to this JSON file")
    p.set_defaults(func="cmd_bench_synth")
    p = bench.add_parser("train", help="images per second of the whole training step, as dlm train runs it")
    p.add_argument("--config", required=True, help="experiments/configs/*.py")
    p.add_argument("--steps", type=int, default=20, help="timed steps after 3 of warm-up")
    p.add_argument("--pool", help="train from this pool folder instead of the config's")
    p.add_argument("--json", help="write the figures to this JSON file")
    p.set_defaults(func="cmd_bench_train")
    p = bench.add_parser("realtime", help="per-frame latency of crop + real-time CNN + fit over a video")
    p.add_argument("--video", help="video file (default: ../shared/real/video/short_hamilton_clip.mp4)")
    p.add_argument("--model", default="realtime", help="landmark model (default: realtime)")
    p.add_argument("--max-frames", type=int, default=None)
    p.add_argument("--solver", choices=["jit", "exported"], default="jit")
    fuse = p.add_mutually_exclusive_group()
    fuse.add_argument("--no-fuse", action="store_true",
                      help="run the CNN and the fit as two calls (timed apart) instead of one program (the default "
                           "when the network runs in ONNX Runtime)")
    fuse.add_argument("--fuse", action="store_true",
                      help="run the CNN (XLA's) and the fit as one compiled program (the default when the network "
                           "runs in XLA)")
    p.add_argument("--max-search-gap", type=non_negative_int, default=8, metavar="N",
                   help="with no face in view, search again after 1, 2, 4 ... frames, at most N (default 8; "
                        "0: search every frame without a track)")
    p.add_argument("--no-search-near", action="store_true",
                   help="on losing the track, run the full search at once (default: look around the lost crop first)")
    p.add_argument("--detector", **detector)
    p.add_argument("--passes", type=int, default=3, help="passes over the video, pooled (default 3)")
    p.add_argument("--refit-every", type=non_negative_int, default=30, metavar="N",
                   help="the tracker's identity refits: the first once its keyframes are full, then after N frames "
                        "at doubling intervals (default 30; 0: no refits, the cold start's identity kept)")
    p.add_argument("--fps", type=non_negative_float, default=0.0, metavar="F",
                   help="frames arrive at F per second, as from a camera (background work such as the identity "
                        "refit runs between them; a frame that arrives while the previous one runs counts its wait); "
                        "default 0: back to back")
    p.add_argument("--refit", choices=["inline", "background"], default=None,
                   help=refit + "background with --fps (as a camera delivers frames), inline back to back (as for a file)")
    p.add_argument("--background-search", action="store_true",
                   help="the full face search runs in a background thread while frames go on, as dlm track "
                        "--webcam runs it (default: it holds its frame, as for a video file)")
    p.add_argument("--hessian", choices=["lazy", "every"], default="lazy",
                   help="the per-frame solve's J^T J: kept while steps succeed, each iteration a fresh gradient "
                        "(default), or built at every iteration (plain LM)")
    p.add_argument("--iterations", type=positive_int, default=None, metavar="N",
                   help="the per-frame solve's iterations (default: the tracker's, 3)")
    p.add_argument("--runtime", choices=["xla", "onnxruntime"], default=None,
                   help="what runs the landmark network's calls (default: ONNX Runtime where installed, else XLA; "
                        "$DLM_RUNTIME)")
    p.add_argument("--threads", type=int, choices=[0, 1], default=1,
                   help="1: pin to one core, one XLA thread (default); 0: leave as is")
    p.add_argument("--json", help="write the figures to this JSON file")
    p.set_defaults(func="cmd_bench_realtime")
    p = bench.add_parser("streams", help="throughput mode: frames per second tracking N streams with one "
                                         "batched CNN call per round")
    p.add_argument("--video", help="video file (default: ../shared/real/video/short_hamilton_clip.mp4)")
    p.add_argument("--model", default="realtime", help="landmark model (default: realtime)")
    p.add_argument("--streams", type=positive_int, nargs="+", default=[1, 4, 8],
                   help="numbers of streams to measure, the first the reference (default %(default)s)")
    p.add_argument("--max-frames", type=positive_int, default=None)
    p.add_argument("--passes", type=positive_int, default=2)
    p.add_argument("--warmup", type=non_negative_int, default=10,
                   help="rounds of each stream count not timed (compilation; default %(default)s)")
    p.add_argument("--threads", type=int, choices=[0, 1], default=1,
                   help="1: pin to one core, one XLA thread (default): frames/s per core; 0: leave as is")
    p.add_argument("--json", help="write the figures to this JSON file")
    p.set_defaults(func="cmd_bench_streams")
    p = bench.add_parser("batch", help="fits per second of the batched fitters at several batch sizes")
    p.add_argument("--fitter", choices=["realtime", "offline", "all"], default="all")
    p.add_argument("--sizes", type=positive_int, nargs="+", default=[1, 8, 64, 512, 4096],
                   help="real-time batch sizes (default %(default)s)")
    p.add_argument("--offline-sizes", type=positive_int, nargs="+", default=[1, 8],
                   help="offline batch sizes (default %(default)s; 64 takes ~4 min per call on 2 cores)")
    p.add_argument("--repeats", type=positive_int, default=3)
    p.add_argument("--devices", type=positive_int, default=None,
                   help="split the CPU into this many XLA devices (--xla_force_host_platform_device_count) "
                        "to measure sharding on one host")
    p.add_argument("--json", help="write the figures to this JSON file")
    p.set_defaults(func="cmd_bench_batch")
    p = bench.add_parser("predictor", help="latency of the real-time landmark model, crop included")
    p.add_argument("--model", default="realtime")
    p.add_argument("--repeats", type=int, default=200)
    p.add_argument("--runtime", choices=["xla", "onnxruntime"], default=None,
                   help="what runs the landmark network's calls (default: ONNX Runtime where installed, else XLA; "
                        "$DLM_RUNTIME)")
    p.add_argument("--threads", type=int, choices=[0, 1], default=1,
                   help="1: pin to one core, one XLA thread (default); 0: leave as is")
    p.add_argument("--json", help="write the figures to this JSON file")
    p.set_defaults(func="cmd_bench_predictor")
    return ap


PRODUCT_COMMANDS = ("cmd_reconstruct", "cmd_track", "cmd_capture", "cmd_batch")


def main(argv=None):
    args = build_parser().parse_args(argv)
    if getattr(args, "threads", 0) == 1:
        _single_thread()
    if getattr(args, "devices", None):
        _force_host_devices(args.devices)
    from dlm.cli import commands   # the one deferred import: JAX starts here, after the flags
    # The persistent cache is for the command line proper (argv None: the `dlm` executable), not
    # for in-process callers: once set it stays on for their whole process (the tests set their
    # own in conftest.py).
    if argv is None and args.func in PRODUCT_COMMANDS:
        commands.compilation_cache()
    try:
        return getattr(commands, args.func)(args)
    except commands.UserError as e:
        print(f"dlm: error: {e}", file=sys.stderr)
        return 2
    except (FileNotFoundError, ValueError) as e:
        print(f"dlm: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("dlm: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
