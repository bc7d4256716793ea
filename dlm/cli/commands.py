"""The `dlm` commands: each handler parses nothing (dlm.cli.main does), calls the library, prints.

dlm.cli.main imports this module only after it has set XLA's flags (--threads, --devices), so the
imports below, JAX's included, sit at the top.  The product commands write their files atomically,
a machine-readable summary (OUT/summary.json), and exit non-zero when any input failed; a batch
carries on past a bad file and lists it at the end.  Every command writes --json PATH through
`report`, one copy.
"""
from __future__ import annotations

import glob
import json
import os
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path

import jax
import numpy as np
import skimage
from tqdm import tqdm

import dlm
from dlm.core import facemodel as fm
from dlm.eval import aflw2000
from dlm.eval import bench
from dlm.io import images as imageio
from dlm.io.files import write_json, write_obj
from dlm.io.images import InputError
from dlm.io.provenance import cache_dir, enable_compilation_cache, environment, git_revision
from dlm.landmarks import onnx_runtime
from dlm.landmarks import predictor as lmk
from dlm.product import capture as cap
from dlm.product import outputs
from dlm.product import pipeline
from dlm.product.batch import reconstruct_batch
from dlm.product.photos import reconstruct_photos
from dlm.synth import dataset as synth_dataset
from dlm.synth import pool
from dlm.synth.switches import REALISM_SWITCHES
from dlm.train import campaign
from dlm.train import loop as train
from dlm.train.bench import bench_train


class UserError(Exception):
    """A problem with the user's input: printed as one line, exit status 2."""


def _say(args, msg, end="\n"):
    if not args.quiet:
        print(msg, end=end, flush=True)


def progress_bar(args, desc: str, unit: str = "image"):
    """A progress callback `(done, total, note=None)` drawing one tqdm bar on stderr, only on a
    terminal and never under --quiet: redirected output and logs hold dlm's result lines alone.
    A new total (the next stage) starts a new bar; total None counts without one."""
    show = not getattr(args, "quiet", False) and sys.stderr.isatty()
    state = {}

    def update(done, total, note=None):
        if not show:
            return
        bar = state.get("bar")
        if bar is None or bar.total != total:
            if bar is not None:
                bar.close()
            bar = state["bar"] = tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, leave=False,
                                      dynamic_ncols=True)
        bar.n = done
        if note:
            bar.set_postfix_str(note, refresh=False)
        bar.refresh()
        if total is not None and done >= total:
            bar.close()
            state.pop("bar")
    return update


def report(args, result: dict | None, lines=()) -> int:
    """How every command ends, one copy: `result` to --json PATH when given (and not None),
    `lines` to stdout unless --quiet.  Returns 0."""
    if getattr(args, "json", None) and result is not None:
        write_json(args.json, result)
    for line in lines:
        _say(args, line)
    return 0


def _finish(args, out: Path, summary: dict) -> int:
    write_json(out / "summary.json", summary)
    report(args, summary)
    failed = summary.get("failed", [])
    if failed:
        print(f"dlm: {len(failed)} input(s) failed:", file=sys.stderr)
        for f in failed:
            print(f"  {f['error']}" if str(f["input"]) in f["error"] else f"  {f['input']}: {f['error']}", file=sys.stderr)
    return 1 if failed else 0


def _min_quality(value, pred):
    """--min-quality: None -> the model's calibrated default (0 when it has no calibration); 0 -> off."""
    cal = pred.manifest.get("quality")
    if value is None:
        return float(cal["min_quality"]) if cal else 0.0
    if not 0.0 <= value < 1.0:
        raise UserError(f"--min-quality must be in [0, 1), got {value:g}")
    if value and not cal:
        raise UserError("--min-quality: this landmark model has no quality calibration "
                        "(experiments/calibrate_quality.py --write-manifest makes one)")
    return float(value)


def _load_predictor(name: str, args=None):
    """A landmark model by name or weights path; an unknown name, a missing, corrupt or mismatched
    file is a UserError.  A fallback note (no offline model shipped) is printed once as dlm's own
    line, not as a Python warning, and not at all under --quiet."""
    if not Path(name).suffix and name not in lmk.SHIPPED and not Path(name).exists():
        shipped = sorted(p.stem for p in lmk.WEIGHTS_DIR.glob("*.npz"))
        raise UserError(f"unknown landmark model {name!r}: give one of {sorted(lmk.SHIPPED)} (shipped: "
                        f"{', '.join(shipped)}) or the path of a weights .npz file")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            pred = lmk.shipped(name)
    except lmk.WeightsError as e:
        raise UserError(str(e)) from None
    for w in caught:
        if args is None or not args.quiet:
            print(f"note: {w.message}", file=sys.stderr)
    return pred


def check_output_folder(path) -> Path:
    """Refuse an output location that cannot hold a folder before any work is done: an existing
    file, or a place where a folder cannot be made (no such parent, read-only, /proc).  Creates
    nothing that stays: a probe folder is made in the nearest existing parent and removed."""
    out = Path(path)
    try:
        out.exists()
    except OSError as e:   # a name longer than the file system allows (ENAMETOOLONG) and the like
        raise UserError(f"{str(out)[:60]}...: not a usable output folder name ({e.strerror or e})") from None
    if out.exists() and not out.is_dir():
        raise UserError(f"{out}: exists and is not a folder; give a folder for -o")
    parent = out if out.exists() else next((p for p in out.absolute().parents if p.exists()), None)
    if parent is None or not parent.is_dir():
        raise UserError(f"{out}: cannot create the output folder ({parent} is not a folder)")
    try:
        probe = tempfile.mkdtemp(prefix=".dlm-probe-", dir=parent)
        if not out.exists():
            # The parents that do not exist yet must be creatable too (a file in the way, /proc).
            Path(probe, *out.absolute().relative_to(parent).parts).mkdir(parents=True)
        shutil.rmtree(probe)
    except OSError as e:
        raise UserError(f"{out}: cannot write the output folder there ({e.strerror or e})") from None
    return out


def example_photo() -> Path:
    """The portrait `--example` reconstructs: scikit-image's astronaut.png (Eileen Collins, NASA,
    public domain), installed with scikit-image, a dependency."""
    return Path(skimage.__file__).parent / "data" / "astronaut.png"


def cmd_reconstruct(args) -> int:
    """`dlm.product.photos.reconstruct_photos` with progress lines, a few output paths, quality warnings."""
    check_output_folder(args.output)
    out = Path(args.output)
    if not args.images and not args.example:
        raise UserError("give IMAGE files or folders, or --example")
    paths = imageio.list_images(args.images) if args.images else []
    if args.example:
        paths.append(example_photo())
    if not paths:
        raise UserError("no input images (folders given contain no image files)")
    pred = _load_predictor(args.model, args)
    min_quality = _min_quality(args.min_quality, pred)

    bar = progress_bar(args, "reconstructing")

    def progress(i, n, stage):
        if stage == "fitting":
            _say(args, f"fitting one identity to {n} images ...")
        else:
            bar(i, n, paths[i].name[:40] if i < n else None)

    summary = reconstruct_photos(paths, out, pred, max_faces=args.max_faces, same_person=args.same_person,
                                 min_face=args.min_face, min_quality=min_quality, debug=args.debug,
                                 mesh_frame=args.mesh_frame, progress=progress)
    done, low = summary["succeeded"], summary["low_quality"]
    _say(args, f"{len(done)} of {len(paths)} inputs reconstructed into {out}")
    folders = [f for d in done for f in d.get("outputs", [d.get("output")])]
    for f in folders[:3]:   # a few inputs: say where each one's files are
        _say(args, f"  {f}{os.sep}: mesh.obj (fitted head), params.json, landmarks.json, overlay.png")
    status = _finish(args, out, summary)
    for f in low:
        print(f"dlm: {f['input']}: face {f['face']} has quality {f['quality']:.3f}, under --min-quality "
              f"{min_quality:g}: probably not the right face (check overlay.png)", file=sys.stderr)
    return status or (3 if low else 0)


def cmd_track(args) -> int:
    check_output_folder(args.output)
    if (args.video is None) == (args.webcam is None):
        raise UserError("give a VIDEO file or --webcam N (not both)")
    source = args.webcam if args.webcam is not None else args.video
    try:
        reader = imageio.VideoReader(source, max_frames=args.max_frames)
    except imageio.InputError as e:
        raise UserError(str(e)) from None
    pred = _load_predictor(args.model, args)
    out = Path(args.output)
    model = fm.load_face_model()
    min_quality = _min_quality(args.min_quality, pred)
    tracker = pipeline.Tracker((reader.width, reader.height), pred, model, solver=args.solver, min_quality=min_quality,
                               max_search_gap=args.max_search_gap, detector=args.detector,
                               # A camera does not wait: the full search must not hold its frames, and
                               # the identity refits take its idle time between frames; a file's frames
                               # go back to back, where a refit in the background made every frame it
                               # overlapped wait behind its chunks (session 64: p90 1.58 -> 4.71 ms).
                               background_search=args.webcam is not None,
                               async_refit=args.refit == "background" if args.refit else args.webcam is not None)
    writer = outputs.TrackWriter(out, model, reader.fps, (reader.width, reader.height), video=not args.no_video)
    timings, found, searched, skipped, near, by_detector, n, qualities = [], 0, 0, 0, 0, 0, 0, []
    starts = {"pose": 0, "cold": 0}   # frames that started a track: identity kept / offline cold start
    t_start = time.perf_counter()
    interrupted = False
    bar = progress_bar(args, "tracking", unit="frame")
    try:
        for frame in reader:
            t0 = time.perf_counter()
            tf = tracker(frame)
            dt = (time.perf_counter() - t0) * 1e3
            timings.append(dict(tf.timings_ms, total=dt, searched=tf.searched))
            found += tf.found
            searched += tf.searched
            skipped += tf.search_skipped
            near += tf.found_near
            by_detector += tf.found_by_detector
            if tf.found and tf.fit.start != "warm":
                starts[tf.fit.start] += 1
            if tf.quality is not None:
                qualities.append(tf.quality)
            writer.add(frame, tf)
            n += 1
            bar(n, reader.header_frames or args.max_frames)
    except KeyboardInterrupt:
        interrupted = True
        print(f"\ndlm: interrupted after {n} frames: finishing the files for the frames read", file=sys.stderr)
    except Exception:
        writer.abort()
        raise
    finally:
        tracker.close()
    wall = time.perf_counter() - t_start
    tracked = [t for t in timings if not t["searched"]]

    def med(key, rows):
        v = [r[key] for r in rows if key in r]
        return float(np.median(v)) if v else None

    summary = dict(command="track", source=str(source), frames=n, frames_found=int(found),
                   frames_searched=int(searched), frames_search_skipped=int(skipped),
                   frames_found_near_lost_track=int(near), frames_found_by_detector=int(by_detector),
                   detector=args.detector,
                   frames_started=dict(starts),
                   max_search_gap=args.max_search_gap, header_frames=reader.header_frames,
                   ended_early=bool(reader.ended_early), video_fps=reader.fps,
                   wall_s=round(wall, 3), frames_per_s_with_outputs=round(n / max(wall, 1e-9), 2),
                   tracked_frame_median_ms={k: med(k, tracked) for k in ("roi", "cnn", "fit", "cnn_and_fit", "total")},
                   frames_per_s_tracking=(round(1e3 / med("total", tracked), 1) if tracked else None),
                   model=pred.manifest.get("config", {}), landmark_set=pred.landmark_set, solver=args.solver,
                   interrupted=interrupted, identity_refits=dict(tracker.fitter.refits),
                   min_quality=min_quality, quality_median=float(np.median(qualities)) if qualities else None,
                   failed=([] if n else [dict(input=str(source), error="no frame was processed")]))
    if interrupted:   # the files hold the frames read; the exit status says it was not the video's end
        writer.close(summary)
        return 130
    if reader.ended_early:
        _say(args, f"note: the video ended after {n} of the {reader.header_frames} frames its header announces")
    if not found:   # a failed run leaves only summary.json, saying what failed (as reconstruct does)
        writer.abort()
        summary["failed"] = [dict(input=str(source), error=f"no face found in any of the {n} frames")]
        write_json(out / "summary.json", summary)
        report(args, summary)
        print(f"dlm: no face found in any of the {n} frames", file=sys.stderr)
        return 1
    writer.close(summary)
    speed = (f"tracking {summary['frames_per_s_tracking']} frames/s (median per tracked frame, without overlays)"
             if summary["frames_per_s_tracking"] else "no frame was tracked after a search (too few frames)")
    _say(args, f"{n} frames, face in {found}; {speed}; outputs in {out}")
    return _finish(args, out, summary)


def cmd_capture(args) -> int:
    check_output_folder(args.output)
    if args.temporal is not None and not (np.isfinite(args.temporal) and args.temporal >= 0):
        raise UserError(f"--temporal must be a finite number >= 0, got {args.temporal}")
    cap.camera_frames(args.cameras, args.max_frames)    # folder errors before the model loads
    pred = _load_predictor(args.model, args)
    res = cap.capture(args.cameras, args.calibration, pred, max_frames=args.max_frames, min_face=args.min_face,
                      temporal=args.temporal, keep_images=args.overlays,
                      progress=progress_bar(args, "landmarks", unit="view"))
    _say(args, f"fitted {res.mu.shape[0]} frames x {len(res.cameras)} cameras ({res.mode}) in {res.fit_seconds:.1f} s")
    out = Path(args.output)
    summary = cap.write_capture(out, res, mesh_frame=args.mesh_frame)
    _say(args, f"per-frame meshes and parameters in {out}; cameras in {out / 'cameras.json'}")
    if res.views_skipped:
        # A view without a face does not fail the capture (the other views carry the frame).
        print(f"dlm: note: {len(res.views_skipped)} view(s) had no usable face and were left out of the fit "
              f"(summary.json: views_skipped)", file=sys.stderr)
    return _finish(args, out, summary)


def _expand_inputs(items) -> list[Path]:
    """Files from globs, folders, files, and .txt lists (one path per line, # comments)."""
    out = []
    for item in items:
        s = str(item)
        if any(ch in s for ch in "*?["):
            out += imageio.list_images(sorted(glob.glob(s, recursive=True)))
        elif s.endswith(".txt") and Path(s).is_file():
            base = Path(s).parent
            for line in Path(s).read_text().splitlines():
                line = line.strip()
                if line and not line.startswith("#"):
                    p = Path(line)
                    out.append(p if p.is_absolute() else base / p)
        else:
            out += imageio.list_images([s])
    return out


def cmd_batch(args) -> int:
    """Many photos (`dlm.product.batch.reconstruct_batch`): resumable, failures listed at the end."""
    check_output_folder(args.output)
    paths = _expand_inputs(args.inputs)
    if not paths:
        raise UserError("no input images matched")
    pred = _load_predictor(args.model, args)
    out = Path(args.output)
    summary = reconstruct_batch(paths, out, pred, fitter=args.fitter, batch_size=args.batch_size,
                                workers=args.workers, min_face=args.min_face, mesh_frame=args.mesh_frame,
                                progress=lambda i, n, nf, bar=progress_bar(args, "batch"): bar(i, n, f"{nf} failed"))
    if summary["already_done"]:
        _say(args, f"{summary['already_done']} of {len(paths)} inputs were already done in {out}; resumed")
    if summary["processed"]:
        _say(args, f"{summary['images_per_s']:.2f} images/s")
    new = sum(not f.get("resumed") for f in summary["succeeded"])
    _say(args, f"{new} reconstructed, {len(summary['failed'])} failed, "
               f"{summary['already_done']} skipped (done before); outputs in {out}")
    return _finish(args, out, summary)


def cmd_model_info(args):
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
    return report(args, info, [
        f"ICT FaceKit light (dlm compact copy): {info['num_vertices']} vertices, "
        f"{info['num_triangles']} triangles, units: {info['units']}",
        f"identity modes: {info['num_identity']} (coefficients ~ N(0, 1)); expressions: {info['num_expression']}",
        f"joints: {', '.join(info['joints'])} (parents {info['joint_parents']})",
        "parts: " + ", ".join(f"{k} {v}" for k, v in info["parts"].items()),
        "landmark sets: " + ", ".join(f"{k} ({v} points)" for k, v in info["landmark_sets"].items()),
        "expressions: " + " ".join(info["expression_names"])])


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
    return report(args, summary, [f"wrote {args.output} ({m.num_vertices} vertices, identity seed {args.seed})"])


def cmd_bench_model(args):
    res = dict(benchmark="model", results=bench.bench_model(repeats=args.repeats), environment=environment(),
               threads=args.threads)
    return report(args, res, [f"{k:>22}: median {v['median_ms']:.3f} ms (p10 {v['p10_ms']:.3f}, p90 {v['p90_ms']:.3f}, "
                              f"n={v['repeats']})" for k, v in res["results"].items()])


def cmd_bench_fit(args):
    res = dict(benchmark="fit", threads=args.threads, environment=environment())
    if args.part in ("realtime", "all"):
        res["realtime"] = bench.bench_fit_realtime(repeats=args.repeats)
    if args.part in ("offline", "all"):
        res["offline"] = bench.bench_fit_offline(num_frames=args.frames, num_cameras=args.cameras)
    lines = []
    if "realtime" in res:
        for k in ("structured", "dense_jacfwd", "exported_structured", "tracker_lm_3_iterations",
                  "tracker_lazy_jtj_3_iterations", "tracker_lazy_jtj_2_iterations"):
            v = res["realtime"][k]
            lines.append(f"realtime {k:>33}: median {v['median_ms']:.3f} ms (p10 {v['p10_ms']:.3f}, "
                         f"p90 {v['p90_ms']:.3f})")
    if "offline" in res:
        o = res["offline"]
        lines.append(f"offline {o['num_frames']} frames x {o['num_cameras']} cameras x 703 landmarks: "
                     f"{o['wall_s_first_call_with_compile']:.1f} s (with compilation), {o['wall_s_second_call']:.1f} s "
                     f"(compiled), {o['iterations']} L-BFGS iterations")
    return report(args, res, lines)


def _switches(args) -> dict:
    """The renderer's realism switches as the command line set them (dlm.synth.switches)."""
    return {name: getattr(args, name) for name in REALISM_SWITCHES}


def cmd_bench_synth(args):
    res = dict(benchmark="synth", environment=environment(),
               results=bench.bench_synth(args.size, args.batch, args.batches, args.landmarks,
                                         not args.no_augment, args.env_light, **_switches(args)))
    r = res["results"]
    extras = "".join([f", env light {r['env_prob']:g}" if r["env_prob"] else ""]
                     + [", " + name.replace("_", " ") for name in REALISM_SWITCHES if r[name]])
    return report(args, res, [
        f"synth {r['size']} px, {r['landmarks']} landmarks, batch {r['batch_size']}{extras}: "
        f"{r['images_per_s']:.1f} images/s ({r['ms_per_image']:.1f} ms per image over {r['images']} images; "
        f"warm-up with compilation {r['warmup_s_with_compile']:.0f} s)"])


def cmd_bench_train(args):
    res = dict(benchmark="train", environment=environment(),
               results=bench_train(args.config, args.steps, pool=args.pool))
    r = res["results"]
    return report(args, res, [
        f"train {r['network']} {r['size']} px, batch {r['batch_size']}, data {r['data']}: "
        f"{r['images_per_s']:.1f} images/s (median step {r['median_step_ms']:.0f} ms, p90 "
        f"{r['p90_step_ms']:.0f}); {r['flops_per_image'] / 1e9:.2f} GFLOP per image, "
        f"{r['effective_gflops']:.1f} GFLOP/s"
        + (f"; data path alone {r['data_alone_images_per_s']:.0f} images/s" if r["data_alone_images_per_s"] else "")])


def cmd_train(args):
    config = train.load_config(args.config)
    if args.quick:
        config = train.load_config(os.path.join(os.path.dirname(os.path.abspath(args.config)), "quick.py"))
    if args.steps:
        config.steps = args.steps
    if args.minutes is not None and not args.minutes > 0:
        raise UserError(f"--minutes must be > 0, got {args.minutes}")
    workdir = args.workdir or cache_dir("runs", config.name)
    if not args.quiet:
        print(f"workdir {workdir}", flush=True)
    result = train.train_and_evaluate(config, workdir, quiet=args.quiet, minutes=args.minutes)
    report(args, None if result is None else dict(config=args.config, workdir=str(workdir), test=result))
    if args.campaign_log:
        roi_auto = None
        if args.roi_auto:
            if not (config.real_eval_dir and os.path.isdir(config.real_eval_dir)):
                raise UserError("--roi-auto needs the config's real_eval_dir, which is absent here")
            roi_auto = aflw2000.eval_aflw2000(config.real_eval_dir,
                                              lmk.Predictor.load(os.path.join(workdir, "weights.npz")), roi="auto")
        line = campaign.campaign_line(workdir, roi_auto)
        campaign.append_line(args.campaign_log, line)
        _say(args, f"campaign line appended to {args.campaign_log}: {json.dumps(line)}")
    return 0


def cmd_eval_synth(args):
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
    return report(args, out, [
        f"synthetic test set ({res['num_images']} images, seed {args.seed}): NME {res['nme']:.4f} "
        f"(visible {res['nme_visible']:.4f}, first 68 {res['nme_68']:.4f}); errors within 1 sigma "
        f"{res['within_1_sigma']:.2f} (Gaussian 0.39), within 2 sigma {res['within_2_sigma']:.2f} (0.86)"]
        + [f"  {r:>12}: {v:.4f}" for r, v in res["nme_by_region"].items()])


def _check_runtime(runtime: str):
    """A runtime whose packages are missing is one line, before any work."""
    if runtime == "onnxruntime" and not onnx_runtime.available():
        raise UserError("--runtime onnxruntime needs the onnx and onnxruntime packages (pip install onnx onnxruntime)")


def cmd_bench_predictor(args):
    _check_runtime(args.runtime)
    try:
        r = bench.bench_predictor(args.model, args.repeats, runtime=args.runtime)
    except lmk.WeightsError as e:
        raise UserError(str(e)) from None
    res = dict(benchmark="predictor", threads=args.threads, environment=environment(), results=r)
    f, n, w = r["crop_and_network"], r["network_only"], r["weights_as_constants_vs_arguments"]
    return report(args, res, [
        f"{r['network']} {r['size']} px, {r['landmarks']} landmarks: crop + network median {f['median_ms']:.2f} ms "
        f"(p10 {f['p10_ms']:.2f}, p90 {f['p90_ms']:.2f}); network alone {n['median_ms']:.2f} ms",
        f"weights compiled in as constants {w['constants_median_ms']:.2f} ms against passed as arguments "
        f"{w['arguments_median_ms']:.2f} ms (interleaved rounds): {w['ratio']:.2f}x"]
        + ([f"{v['runtime']} {v['median_ms']:.2f} ms against XLA's {v['xla_median_ms']:.2f} ms (the same rounds): "
            f"{v['ratio']:.2f}x"] if (v := r["runtime_vs_xla"]) else []))


def cmd_eval_aflw2000(args):
    progress = progress_bar(args, "evaluating")
    try:
        res = aflw2000.eval_aflw2000(args.dir, args.model, args.roi, progress,
                                     label_translation=getattr(args, "label_translation", True),
                                     mirror=getattr(args, "mirror", False), average=getattr(args, "average", False))
    except lmk.WeightsError as e:
        raise UserError(str(e)) from None
    res["benchmark"] = "eval aflw2000"

    def figures(r):
        bins = ", ".join(f"{k}: {v['nme'] * 100:.2f}% ({v['count']})" if v["nme"] is not None else f"{k}: - (0)"
                         for k, v in r["yaw_bins"].items())
        bal = f"{r['nme_balanced'] * 100:.2f}%" if r["nme_balanced"] is not None else "n/a (empty yaw bin)"
        return (f"balanced NME {bal}; {bins}; mean {r['nme_mean'] * 100:.2f}% (inner 51: "
                f"{r['nme_inner51_mean'] * 100:.2f}%); failures (NME > 10%): {round(r['failure_rate_10'] * res['num_evaluated'])}")
    head = f"AFLW2000-3D ({res['num_evaluated']}/{res['num_images']} images, roi {res['roi']}" + \
        (", averaged over turned and mirrored crops" if res["average"] else ", mirror-averaged" if res["mirror"] else "")
    if res["raw"] is None:
        lines = [f"{head}): {figures(res)}"]
    else:
        t = res["label_translation"]
        lines = [f"{head}, label translation fitted on {t.get('fitted_on')} ({t.get('num_photos')} photos)): {figures(res)}",
                 f"  ICT's 68 untranslated (--no-label-translation): {figures(res['raw'])}"]
    return report(args, res, lines)


def cmd_synth(args):
    pool_only = dict(env_light=args.env_light, grow_from=args.grow_from, identity_sd=args.identity_sd,
                     **_switches(args))
    if any(pool_only.values()) and not args.pool:
        flags = ["--" + k.replace("_", "-") for k in pool_only]
        raise UserError(f"{', '.join(flags[:-1])} and {flags[-1]} are --pool options")
    progress = progress_bar(args, "rendering")
    try:
        if args.pool:
            summary = pool.write_pool(args.out, args.num, args.size, args.seed, args.crop_scale, progress,
                                      git_revision=git_revision(), env_prob=args.env_light,
                                      grow_from=args.grow_from,
                                      identity_sd=(1.0, args.identity_sd or 1.0), **_switches(args))
        else:
            summary = synth_dataset.write_dataset(args.out, args.num, args.size, args.seed, args.landmarks, progress,
                                          augment=not args.no_augment)
    except (FileExistsError, ValueError) as e:
        raise UserError(str(e)) from None
    return report(args, summary)


def cmd_bench_streams(args):
    video = args.video or bench.default_video()
    if video is None:
        raise UserError("no --video given and ../shared/real/video/short_hamilton_clip.mp4 is not there")
    try:
        r = bench.bench_streams(video, args.model, tuple(args.streams), args.max_frames, passes=args.passes,
                               warmup=args.warmup)
    except InputError as e:
        raise UserError(str(e)) from None
    res = dict(benchmark="streams", threads=args.threads, environment=environment(), **r)
    lines = [f"{x['streams']} stream(s) of {res['video']}: {x['frames_per_s']:.0f} frames/s over every frame "
             f"({x['frames_per_s_vs_first']:.2f}x); tracked frame median "
             + (f"{x['tracked_frame_median_ms']:.2f} ms" if x["tracked_frame_median_ms"] else "-")
             for x in res["results"]]
    return report(args, res, lines)


def cmd_bench_realtime(args):
    _check_runtime(args.runtime)
    video = args.video or bench.default_video()
    if video is None:
        raise UserError("no --video given and ../shared/real/video/short_hamilton_clip.mp4 is not there")
    try:
        fuse = False if args.no_fuse else (True if args.fuse else None)     # None: the Tracker's choice
        r = bench.bench_realtime(video, args.model, args.max_frames, solver=args.solver, fuse=fuse,
                                 passes=args.passes, max_search_gap=args.max_search_gap,
                                 search_near=not args.no_search_near,
                                 detector=args.detector, refit_every=args.refit_every, fps=args.fps,
                                 background_search=args.background_search, hessian=args.hessian,
                                 iterations=args.iterations, runtime=args.runtime,
                                 async_refit=None if args.refit is None else args.refit == "background")
    except InputError as e:
        raise UserError(str(e)) from None
    res = dict(benchmark="realtime", threads=args.threads, environment=environment(), **r)
    p = res["per_frame"]
    if p is None:
        line = f"no frame was tracked ({res['frames_without_face']} without a face)"
    else:
        line = (f"real-time per frame ({res['frames_tracked']} tracked frames of {res['video']}, "
                f"{args.threads or 'all'} thread(s), " + (f"arriving at {args.fps:g} frames/s" if args.fps else "back to back")
                + f"): median {p['median_ms']:.2f} ms "
                f"({res['frames_per_s']:.0f} frames/s), p90 {p['p90_ms']:.2f}; per pass "
                f"{', '.join(f'{v:.2f}' for v in res['per_pass_median_ms'])}; crop + ROI {res['roi']['median_ms']:.2f}, "
                + (f"CNN + fit {res['cnn_and_fit']['median_ms']:.2f} ms (one program); " if res["fused"] else
                   f"CNN {res['cnn']['median_ms']:.2f}, fit {res['fit']['median_ms']:.2f} ms; ")
                + f"{res['frames_searched']} frames ran the full search, {res['frames_search_skipped']} waited "
                f"for the next one; every frame: mean {res['every_frame']['mean_ms']:.2f} ms")
    return report(args, res, [line])


def cmd_bench_batch(args):
    fitters = ("realtime", "offline") if args.fitter == "all" else (args.fitter,)
    progress = None if args.quiet else (lambda line: print(line, file=sys.stderr, flush=True))
    r = bench.bench_batch(fitters, tuple(args.sizes), tuple(args.offline_sizes), args.repeats, progress=progress)
    res = dict(benchmark="batch", forced_host_devices=args.devices, environment=environment(), **r)
    return report(args, res, [f"{fitter:>8} batch {row['batch_size']:>5}: {row['fits_per_s']:10.1f} fits/s "
                              f"(median {row['median_s'] * 1e3:.1f} ms per call; compile {row['compile_s']:.1f} s)"
                              for fitter, rows in res["results"].items() for row in rows])


def compilation_cache():
    """JAX's persistent compilation cache for this process (`dlm.io.provenance.enable_compilation_cache`)."""
    enable_compilation_cache()
