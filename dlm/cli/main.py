"""The `dlm` command line. Subcommands import their heavy modules lazily so that
`--threads` can configure XLA before JAX starts."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


from dlm.cli.commands import (UserError, cmd_batch, cmd_capture, cmd_reconstruct, cmd_track,  # noqa: F401
                               progress_bar)  # (UserError re-exported)
from dlm.io.provenance import environment

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


def cmd_model_info(args):
    import numpy as np
    import dlm
    m = dlm.load_face_model()
    info = dict(
        num_vertices=m.num_vertices, num_triangles=int(m.faces.shape[0]), num_identity=m.num_identity,
        num_expression=m.num_expression, joints=list(m.joint_names), joint_parents=list(m.joint_parents),
        units="centimetres; x subject's left, y up, z out of the face",
        parts={n: int((np.asarray(m.vertex_part) == i).sum()) for i, n in enumerate(m.part_names)},
        landmark_sets={k: len(v) for k, v in m.landmarks.items()},
        expression_names=list(m.expression_names),
        bbox_cm=np.asarray(m.template).min(0).round(2).tolist() + np.asarray(m.template).max(0).round(2).tolist(),
    )
    if args.json:
        from dlm.io.files import write_json
        write_json(args.json, info)
    if args.quiet:
        return 0
    print(f"ICT FaceKit light (dlm compact copy): {info['num_vertices']} vertices, "
          f"{info['num_triangles']} triangles, units: {info['units']}")
    print(f"identity modes: {info['num_identity']} (coefficients ~ N(0, 1)); expressions: {info['num_expression']}")
    print(f"joints: {', '.join(info['joints'])} (parents {info['joint_parents']})")
    print("parts: " + ", ".join(f"{k} {v}" for k, v in info["parts"].items()))
    print("landmark sets: " + ", ".join(f"{k} ({v} points)" for k, v in info["landmark_sets"].items()))
    print("expressions: " + " ".join(info["expression_names"]))
    return 0


def _parse_weights(items, names):
    out = {}
    for item in items or []:
        if "=" not in item:
            raise UserError(f"--expression {item!r}: expected NAME=WEIGHT, e.g. jawOpen=0.5")
        name, value = item.split("=", 1)
        if name not in names:
            raise UserError(f"--expression: unknown expression {name!r}; run `dlm model info` for the names")
        try:
            out[name] = float(value)
        except ValueError:
            raise UserError(f"--expression {item!r}: weight {value!r} is not a number") from None
    return out


def cmd_model_sample(args):
    import jax
    import numpy as np
    import dlm
    from dlm.io.files import write_obj, write_json
    if not args.output.lower().endswith(".obj"):
        raise UserError(f"-o {args.output}: the output must be a .obj file")
    m = dlm.load_face_model()
    weights = _parse_weights(args.expression, m.expression_names)
    identity = args.scale * jax.random.normal(jax.random.key(args.seed), (m.num_identity,))
    params = dlm.FaceParams.zeros(m).replace(identity=identity, expression=dlm.expression_vector(m, weights))
    verts = np.asarray(dlm.vertices(m, params))
    write_obj(args.output, verts, np.asarray(m.faces), np.asarray(m.uvs), np.asarray(m.face_uvs),
              header=f"dlm model sample --seed {args.seed} --scale {args.scale}\nunits: cm")
    summary = dict(output=args.output, seed=args.seed, scale=args.scale, expression=weights,
                   identity=np.asarray(identity).round(6).tolist(), num_vertices=m.num_vertices)
    if args.json:
        write_json(args.json, summary)
    if not args.quiet:
        print(f"wrote {args.output} ({m.num_vertices} vertices, identity seed {args.seed})")
    return 0


def cmd_bench_model(args):
    from dlm.eval import bench
    from dlm.io.files import write_json
    res = dict(benchmark="model", results=bench.bench_model(repeats=args.repeats), environment=environment(),
               threads=args.threads)
    if args.json:
        write_json(args.json, res)
    if not args.quiet:
        for k, v in res["results"].items():
            print(f"{k:>22}: median {v['median_ms']:.3f} ms (p10 {v['p10_ms']:.3f}, p90 {v['p90_ms']:.3f}, "
                  f"n={v['repeats']})")
    return 0


def cmd_bench_fit(args):
    from dlm.eval import bench
    from dlm.io.files import write_json
    res = dict(benchmark="fit", threads=args.threads, environment=environment())
    if args.part in ("realtime", "all"):
        res["realtime"] = bench.bench_fit_realtime(repeats=args.repeats)
    if args.part in ("offline", "all"):
        res["offline"] = bench.bench_fit_offline(num_frames=args.frames, num_cameras=args.cameras)
    if args.json:
        write_json(args.json, res)
    if not args.quiet:
        if "realtime" in res:
            for k in ("structured", "dense_jacfwd", "exported_structured"):
                v = res["realtime"][k]
                print(f"realtime {k:>20}: median {v['median_ms']:.3f} ms (p10 {v['p10_ms']:.3f}, p90 {v['p90_ms']:.3f})")
        if "offline" in res:
            o = res["offline"]
            print(f"offline {o['num_frames']} frames x {o['num_cameras']} cameras x 703 landmarks: "
                  f"{o['wall_s_first_call_with_compile']:.1f} s (with compilation), {o['wall_s_second_call']:.1f} s "
                  f"(compiled), {o['iterations']} L-BFGS iterations")
    return 0


def cmd_bench_synth(args):
    from dlm.eval import bench
    from dlm.io.files import write_json
    res = dict(benchmark="synth", environment=environment(),
               results=bench.bench_synth(args.size, args.batch, args.batches, args.landmarks,
                                         not args.no_augment))
    if args.json:
        write_json(args.json, res)
    if not args.quiet:
        r = res["results"]
        print(f"synth {r['size']} px, {r['landmarks']} landmarks, batch {r['batch_size']}: "
              f"{r['images_per_s']:.1f} images/s ({r['ms_per_image']:.1f} ms per image over {r['images']} images; "
              f"warm-up with compilation {r['warmup_s_with_compile']:.0f} s)")
    return 0


def cmd_bench_train(args):
    from dlm.io.files import write_json
    from dlm.train.bench import bench_train
    res = dict(benchmark="train", environment=environment(),
               results=bench_train(args.config, args.steps, pool=args.pool))
    if args.json:
        write_json(args.json, res)
    if not args.quiet:
        r = res["results"]
        print(f"train {r['network']} {r['size']} px, batch {r['batch_size']}, data {r['data']}: "
              f"{r['images_per_s']:.1f} images/s (median step {r['median_step_ms']:.0f} ms, p90 "
              f"{r['p90_step_ms']:.0f}); {r['flops_per_image'] / 1e9:.2f} GFLOP per image, "
              f"{r['effective_gflops']:.1f} GFLOP/s"
              + (f"; data path alone {r['data_alone_images_per_s']:.0f} images/s" if r["data_alone_images_per_s"] else ""))
    return 0


def cmd_train(args):
    from dlm.train import loop as train
    config = train.load_config(args.config)
    if args.quick:
        config = train.load_config(os.path.join(os.path.dirname(os.path.abspath(args.config)), "quick.py"))
    if args.steps:
        config.steps = args.steps
    if args.minutes is not None and not args.minutes > 0:
        raise UserError(f"--minutes must be > 0, got {args.minutes}")
    from dlm.io.provenance import cache_dir
    workdir = args.workdir or cache_dir("runs", config.name)
    if not args.quiet:
        print(f"workdir {workdir}", flush=True)
    result = train.train_and_evaluate(config, workdir, quiet=args.quiet, minutes=args.minutes)
    if args.json and result is not None:
        from dlm.io.files import write_json
        write_json(args.json, dict(config=args.config, workdir=str(workdir), test=result))
    if args.campaign_log:
        import json
        from dlm.train import campaign
        roi_auto = None
        if args.roi_auto:
            if not (config.real_eval_dir and os.path.isdir(config.real_eval_dir)):
                raise UserError("--roi-auto needs the config's real_eval_dir, which is absent here")
            from dlm.eval import aflw2000
            from dlm.landmarks import predictor as lmk
            roi_auto = aflw2000.eval_aflw2000(config.real_eval_dir,
                                              lmk.Predictor.load(os.path.join(workdir, "weights.npz")), roi="auto")
        line = campaign.campaign_line(workdir, roi_auto)
        campaign.append_line(args.campaign_log, line)
        if not args.quiet:
            print(f"campaign line appended to {args.campaign_log}: {json.dumps(line)}", flush=True)
    return 0


def cmd_eval_synth(args):
    from dlm.core import facemodel as fm
    from dlm.landmarks import predictor as lmk
    from dlm.train import loop as train
    from dlm.io.files import write_json
    try:
        pred = lmk.shipped(args.model)
    except lmk.WeightsError as e:
        raise UserError(str(e)) from None
    cfg = train.TrainConfig(landmark_set=pred.landmark_set, size=pred.size, test_seed=args.seed, test_num=args.num)
    model = fm.load_face_model()
    test = train.make_test_set(cfg, model)
    res = train.evaluate(pred.module.apply, pred.variables, test, model.landmark_regions[pred.landmark_set], pred.size)
    out = dict(benchmark="eval synth", model=str(args.model), seed=args.seed, results=res,
               weights_manifest=pred.manifest.get("sha256"))
    if args.json:
        write_json(args.json, out)
    if not args.quiet:
        print(f"synthetic test set ({res['num_images']} images, seed {args.seed}): NME {res['nme']:.4f} "
              f"(visible {res['nme_visible']:.4f}, first 68 {res['nme_68']:.4f}); errors within 1 sigma "
              f"{res['within_1_sigma']:.2f} (Gaussian 0.39), within 2 sigma {res['within_2_sigma']:.2f} (0.86)")
        for r, v in res["nme_by_region"].items():
            print(f"  {r:>12}: {v:.4f}")
    return 0


def cmd_bench_predictor(args):
    from dlm.eval import bench
    from dlm.landmarks import predictor as lmk
    from dlm.io.files import write_json
    try:
        r = bench.bench_predictor(args.model, args.repeats)
    except lmk.WeightsError as e:
        raise UserError(str(e)) from None
    res = dict(benchmark="predictor", threads=args.threads, environment=environment(), results=r)
    if args.json:
        write_json(args.json, res)
    if not args.quiet:
        f, n = r["crop_and_network"], r["network_only"]
        print(f"{r['network']} {r['size']} px, {r['landmarks']} landmarks: crop + network median {f['median_ms']:.2f} ms "
              f"(p10 {f['p10_ms']:.2f}, p90 {f['p90_ms']:.2f}); network alone {n['median_ms']:.2f} ms")
    return 0


def cmd_eval_aflw2000(args):
    from dlm.eval import aflw2000 as evaluation
    from dlm.landmarks import predictor as lmk
    from dlm.io.files import write_json

    progress = progress_bar(args, "evaluating")
    try:
        res = evaluation.eval_aflw2000(args.dir, args.model, args.roi, progress)
    except lmk.WeightsError as e:
        raise UserError(str(e)) from None
    res["benchmark"] = "eval aflw2000"
    if args.json:
        write_json(args.json, res)
    if not args.quiet:
        bins = ", ".join(f"{k}: {v['nme'] * 100:.2f}% ({v['count']})" if v["nme"] is not None else f"{k}: - (0)"
                         for k, v in res["yaw_bins"].items())
        bal = f"{res['nme_balanced'] * 100:.2f}%" if res["nme_balanced"] is not None else "n/a (empty yaw bin)"
        print(f"AFLW2000-3D ({res['num_evaluated']}/{res['num_images']} images, roi {res['roi']}): balanced NME {bal}; "
              f"{bins}; mean {res['nme_mean'] * 100:.2f}% (inner 51: {res['nme_inner51_mean'] * 100:.2f}%); "
              f"failures (NME > 10%): {len(res['failures'])}")
    return 0


def cmd_synth(args):
    from dlm.synth import dataset as synth_dataset
    from dlm.io.files import write_json

    progress = progress_bar(args, "rendering")

    try:
        if args.pool:
            from dlm.synth import pool
            from dlm.io.provenance import git_revision
            summary = pool.write_pool(args.out, args.num, args.size, args.seed, args.crop_scale, progress,
                                      git_revision=git_revision())
        else:
            summary = synth_dataset.write_dataset(args.out, args.num, args.size, args.seed, args.landmarks, progress,
                                          augment=not args.no_augment)
    except (FileExistsError, ValueError) as e:
        raise UserError(str(e)) from None
    if args.json:
        write_json(args.json, summary)
    return 0


def cmd_bench_realtime(args):
    from dlm.eval import bench
    from dlm.io.files import write_json
    video = args.video or bench.default_video()
    if video is None:
        raise UserError("no --video given and ../shared/real/video/short_hamilton_clip.mp4 is not there")
    from dlm.io.images import InputError
    try:
        r = bench.bench_realtime(video, args.model, args.max_frames, solver=args.solver, fuse=not args.no_fuse,
                                 passes=args.passes)
    except InputError as e:
        raise UserError(str(e)) from None
    res = dict(benchmark="realtime", threads=args.threads, environment=environment(), **r)
    if args.json:
        write_json(args.json, res)
    if not args.quiet:
        p = res["per_frame"]
        if p is None:
            print(f"no frame was tracked ({res['frames_without_face']} without a face)")
        else:
            print(f"real-time per frame ({res['frames_tracked']} tracked frames of {res['video']}, "
                  f"{args.threads or 'all'} thread(s)): median {p['median_ms']:.2f} ms "
                  f"({res['frames_per_s']:.0f} frames/s), p90 {p['p90_ms']:.2f}; per pass "
                  f"{', '.join(f'{v:.2f}' for v in res['per_pass_median_ms'])}; crop + ROI {res['roi']['median_ms']:.2f}, "
                  + (f"CNN + fit {res['cnn_and_fit']['median_ms']:.2f} ms (one program); " if res["fused"] else
                     f"CNN {res['cnn']['median_ms']:.2f}, fit {res['fit']['median_ms']:.2f} ms; ")
                  + f"{res['frames_searched']} frames needed the full search")
    return 0


def cmd_bench_batch(args):
    from dlm.eval import bench
    from dlm.io.files import write_json
    fitters = ("realtime", "offline") if args.fitter == "all" else (args.fitter,)
    progress = None if args.quiet else (lambda line: print(line, file=sys.stderr, flush=True))
    r = bench.bench_batch(fitters, tuple(args.sizes), tuple(args.offline_sizes), args.repeats, progress=progress)
    res = dict(benchmark="batch", forced_host_devices=args.devices, environment=environment(), **r)
    if args.json:
        write_json(args.json, res)
    if not args.quiet:
        for fitter, rows in res["results"].items():
            for row in rows:
                print(f"{fitter:>8} batch {row['batch_size']:>5}: {row['fits_per_s']:10.1f} fits/s "
                      f"(median {row['median_s'] * 1e3:.1f} ms per call; compile {row['compile_s']:.1f} s)")
    return 0


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1 (0 frames or 0 workers is a mistake, not a request)."""
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {v}")
    return v


def _version() -> str:
    from importlib import metadata
    try:
        return metadata.version("dlm")
    except metadata.PackageNotFoundError:   # run from a checkout that was not installed
        return "unknown (not installed)"


def build_parser():
    ap = argparse.ArgumentParser(prog="dlm", description="Dense-landmark 3D face reconstruction in JAX.")
    ap.add_argument("--quiet", action="store_true", help="print nothing but errors")
    ap.add_argument("--version", action="version", version=f"dlm {_version()}")
    sub = ap.add_subparsers(dest="command", required=True)

    model = sub.add_parser("model", help="the face model").add_subparsers(dest="model_command", required=True)
    p = model.add_parser("info", help="counts, sizes, units and landmark sets")
    p.add_argument("--json", help="also write the information to this JSON file")
    p.set_defaults(func=cmd_model_info)
    p = model.add_parser("sample", help="write a random head (identity from the prior) as OBJ")
    p.add_argument("--seed", type=int, default=0, help="PRNG seed of the identity")
    p.add_argument("--scale", type=float, default=1.0, help="standard deviations of the identity draw")
    p.add_argument("--expression", nargs="*", metavar="NAME=WEIGHT", help="ARKit expression weights")
    p.add_argument("-o", "--output", required=True, help="output .obj path")
    p.add_argument("--json", help="also write a summary JSON here")
    p.set_defaults(func=cmd_model_sample)

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
    p.add_argument("--out", required=True, help="output folder (must not exist or be empty)")
    p.add_argument("--json", help="also write a summary JSON here")
    p.set_defaults(func=cmd_synth)

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
    p.set_defaults(func=cmd_train)

    ev = sub.add_parser("eval", help="evaluate landmark models").add_subparsers(dest="eval_command", required=True)
    p = ev.add_parser("synth", help="held-out synthetic test set: NME per region, sigma calibration")
    p.add_argument("--model", default="realtime", help="realtime, offline, or a weights .npz path")
    p.add_argument("--num", type=int, default=512)
    p.add_argument("--seed", type=int, default=1_000_003)
    p.add_argument("--json", help="write the figures to this JSON file")
    p.set_defaults(func=cmd_eval_synth)

    p = ev.add_parser("aflw2000", help="68-point NME on the AFLW2000-3D layout, by yaw bin")
    p.add_argument("dir", help="folder with imageXXXXX.jpg and imageXXXXX.mat")
    p.add_argument("--model", default=DEFAULT_MODEL,
                   help=f"realtime, offline, or a weights .npz path (default: {DEFAULT_MODEL})")
    p.add_argument("--roi", choices=["gt", "auto"], default="gt",
                   help="gt: crop from the ground-truth landmark box; auto: dlm's own search (no detector, no ground truth: "
                        "photos where it finds no face count in detection_rate)")
    p.add_argument("--json", help="write the figures to this JSON file")
    p.set_defaults(func=cmd_eval_aflw2000)

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
    p.set_defaults(func=cmd_reconstruct)

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
    p.add_argument("--json", help="also write the summary to this JSON file")
    p.add_argument("--quiet", **quiet)
    p.set_defaults(func=cmd_track)

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
    p.set_defaults(func=cmd_capture)

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
    p.set_defaults(func=cmd_batch)

    bench = sub.add_parser("bench", help="benchmarks").add_subparsers(dest="bench_command", required=True)
    p = bench.add_parser("model", help="time the posed mesh and landmark-only evaluation")
    p.add_argument("--repeats", type=int, default=100)
    p.add_argument("--threads", type=int, choices=[0, 1], default=1,
                   help="1: pin to one core, one XLA thread (default); 0: leave as is")
    p.add_argument("--json", help="write the figures to this JSON file")
    p.set_defaults(func=cmd_bench_model)
    p = bench.add_parser("fit", help="time the real-time and offline fitters")
    p.add_argument("--part", choices=["realtime", "offline", "all"], default="realtime")
    p.add_argument("--repeats", type=int, default=100)
    p.add_argument("--frames", type=int, default=100, help="offline: frames")
    p.add_argument("--cameras", type=int, default=4, help="offline: cameras")
    p.add_argument("--threads", type=int, choices=[0, 1], default=1,
                   help="1: pin to one core, one XLA thread (default); 0: leave as is")
    p.add_argument("--json", help="write the figures to this JSON file")
    p.set_defaults(func=cmd_bench_fit)
    p = bench.add_parser("synth", help="rendered and labelled training images per second")
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--batches", type=int, default=8, help="timed batches after warm-up")
    p.add_argument("--landmarks", default="703", choices=["703", "320", "68"])
    p.add_argument("--no-augment", action="store_true")
    p.add_argument("--json", help="write the figures to this JSON file")
    p.set_defaults(func=cmd_bench_synth)
    p = bench.add_parser("train", help="images per second of the whole training step, as dlm train runs it")
    p.add_argument("--config", required=True, help="experiments/configs/*.py")
    p.add_argument("--steps", type=int, default=20, help="timed steps after 3 of warm-up")
    p.add_argument("--pool", help="train from this pool folder instead of the config's")
    p.add_argument("--json", help="write the figures to this JSON file")
    p.set_defaults(func=cmd_bench_train)
    p = bench.add_parser("realtime", help="per-frame latency of crop + real-time CNN + fit over a video")
    p.add_argument("--video", help="video file (default: ../shared/real/video/short_hamilton_clip.mp4)")
    p.add_argument("--model", default="realtime", help="landmark model (default: realtime)")
    p.add_argument("--max-frames", type=int, default=None)
    p.add_argument("--solver", choices=["jit", "exported"], default="jit")
    p.add_argument("--no-fuse", action="store_true",
                   help="run the CNN and the fit as two compiled calls (timed apart) instead of one program")
    p.add_argument("--passes", type=int, default=3, help="passes over the video, pooled (default 3)")
    p.add_argument("--threads", type=int, choices=[0, 1], default=1,
                   help="1: pin to one core, one XLA thread (default); 0: leave as is")
    p.add_argument("--json", help="write the figures to this JSON file")
    p.set_defaults(func=cmd_bench_realtime)
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
    p.set_defaults(func=cmd_bench_batch)
    p = bench.add_parser("predictor", help="latency of the real-time landmark model, crop included")
    p.add_argument("--model", default="realtime")
    p.add_argument("--repeats", type=int, default=200)
    p.add_argument("--threads", type=int, choices=[0, 1], default=1,
                   help="1: pin to one core, one XLA thread (default); 0: leave as is")
    p.add_argument("--json", help="write the figures to this JSON file")
    p.set_defaults(func=cmd_bench_predictor)
    return ap


def _compilation_cache():
    """Keep compiled fitters and networks between runs (JAX's persistent cache): the offline fit
    compiles for about a minute on a 2-core CPU and then runs in seconds.  The cache is
    $DLM_CACHE/jax (DLM_CACHE_DIR moves it alone); DLM_NO_COMPILE_CACHE=1 turns it off."""
    if os.environ.get("DLM_NO_COMPILE_CACHE"):
        return
    import jax
    from dlm.io.provenance import cache_dir
    d = os.environ.get("DLM_CACHE_DIR") or cache_dir("jax")
    jax.config.update("jax_compilation_cache_dir", d)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)


def main(argv=None):
    args = build_parser().parse_args(argv)
    if getattr(args, "threads", 0) == 1:
        _single_thread()
    if getattr(args, "devices", None):
        _force_host_devices(args.devices)
    # The persistent cache is for the command line proper (argv None: the `dlm` executable), not
    # for in-process callers: once set it stays on for their whole process (the tests set their
    # own in conftest.py).
    if argv is None and args.func in (cmd_reconstruct, cmd_track, cmd_capture, cmd_batch):
        _compilation_cache()
    try:
        return args.func(args)
    except UserError as e:
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
