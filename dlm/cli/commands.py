"""The product commands: `dlm reconstruct`, `dlm track`, `dlm capture` (argument parsing in dlm.cli.main).

Each writes its files atomically, prints a progress line unless --quiet, writes a machine-readable
summary (OUT/summary.json, and --json PATH if given), and exits non-zero when any input failed.
A batch carries on past a bad file and lists it at the end.
"""
from __future__ import annotations

import os
import sys
import time
import traceback
from pathlib import Path

import numpy as np


class UserError(Exception):
    """A problem with the user's input: printed as one line, exit status 2."""


def _say(args, msg, end="\n"):
    if not args.quiet:
        print(msg, end=end, flush=True)


def _bar(i, n, width=30):
    k = int(width * i / max(n, 1))
    return "[" + "#" * k + " " * (width - k) + f"] {i}/{n}"


def _unique_names(paths) -> list[str]:
    """Output folder names: the file stem, with a counter where stems repeat."""
    seen, out = {}, []
    for p in paths:
        stem = Path(p).stem or "image"
        n = seen.get(stem, 0)
        seen[stem] = n + 1
        out.append(stem if n == 0 else f"{stem}_{n}")
    return out


def _finish(args, out: Path, summary: dict) -> int:
    from dlm.io.files import write_json
    write_json(out / "summary.json", summary)
    if getattr(args, "json", None):
        write_json(args.json, summary)
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
    import warnings
    from dlm.landmarks import predictor as lmk
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
    import tempfile
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
        import shutil
        shutil.rmtree(probe)
    except OSError as e:
        raise UserError(f"{out}: cannot write the output folder there ({e.strerror or e})") from None
    return out


def _error_text(e: Exception) -> str:
    from dlm.io.images import InputError
    if isinstance(e, InputError):
        return str(e)
    return f"{type(e).__name__}: {e}"


def example_photo() -> Path:
    """The portrait `--example` reconstructs: scikit-image's astronaut.png (Eileen Collins, NASA,
    public domain), installed with scikit-image, a dependency."""
    import skimage
    return Path(skimage.__file__).parent / "data" / "astronaut.png"


def cmd_reconstruct(args) -> int:
    check_output_folder(args.output)
    from dlm.core import facemodel as fm
    from dlm.io import images as imageio
    from dlm.product import outputs
    from dlm.product import pipeline
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
    model = fm.load_face_model()
    names = _unique_names(paths)
    failed, done, low = [], [], []
    t_start = time.perf_counter()

    def check_quality(path, k, res):
        if min_quality and res.quality is not None and res.quality < min_quality:
            low.append(dict(input=str(path), face=k, quality=round(res.quality, 4)))

    def load(i):
        try:
            return imageio.read_image(paths[i])
        except imageio.InputError as e:
            failed.append(dict(input=str(paths[i]), error=str(e)))
            return None

    if args.same_person:
        images, dets, kept = [], [], []
        for i in range(len(paths)):
            _say(args, f"\rdetecting {_bar(i, len(paths))}", end="")
            img = load(i)
            if img is None:
                continue
            try:
                dets.append(pipeline.detect(img, pred, 1, args.min_face)[0])
            except Exception as e:  # noqa: BLE001 - reported per input
                failed.append(dict(input=str(paths[i]), error=_error_text(e)))
                continue
            images.append(img)
            kept.append(i)
        _say(args, f"\rdetecting {_bar(len(paths), len(paths))}")
        if kept:
            _say(args, f"fitting one identity to {len(kept)} images ...")
            results = pipeline.fit_faces(dets, [(im.shape[1], im.shape[0]) for im in images], pred.landmark_set,
                                         model, same_person=True)
            results = pipeline.with_quality(results, pred)
            for i, img, res in zip(kept, images, results):
                check_quality(paths[i], 0, res)
                files = outputs.write_face(out / names[i], img, res, model,
                                           extra=dict(input=str(paths[i]), same_person=True))
                done.append(dict(input=str(paths[i]), output=str(out / names[i]), faces=1, files=files,
                                 score=float(res.score), quality=res.quality))
    else:
        for i in range(len(paths)):
            _say(args, f"\rreconstructing {_bar(i, len(paths))} {paths[i].name[:40]:<40}", end="")
            img = load(i)
            if img is None:
                continue
            try:
                t0 = time.perf_counter()
                results = pipeline.reconstruct_faces(img, pred, args.max_faces, model, min_face=args.min_face)
                folders = []
                for k, res in enumerate(results):
                    folder = out / names[i] if args.max_faces == 1 else out / names[i] / f"face_{k}"
                    outputs.write_face(folder, img, res, model, extra=dict(input=str(paths[i]), face=k))
                    folders.append(str(folder))
                    check_quality(paths[i], k, res)
                done.append(dict(input=str(paths[i]), outputs=folders, faces=len(results),
                                 scores=[float(r.score) for r in results], qualities=[r.quality for r in results],
                                 seconds=round(time.perf_counter() - t0, 3)))
            except Exception as e:  # noqa: BLE001 - a batch continues past a bad file
                if args.debug:
                    traceback.print_exc()
                failed.append(dict(input=str(paths[i]), error=_error_text(e)))
        _say(args, f"\rreconstructing {_bar(len(paths), len(paths))}{' ' * 41}")
    summary = dict(command="reconstruct", model=pred.manifest.get("config", {}), landmark_set=pred.landmark_set,
                   same_person=bool(args.same_person), num_inputs=len(paths), succeeded=done, failed=failed,
                   min_quality=min_quality, low_quality=low, seconds=round(time.perf_counter() - t_start, 3))
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
    from dlm.core import facemodel as fm
    from dlm.io import images as imageio
    from dlm.product import outputs
    from dlm.product import pipeline
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
    tracker = pipeline.Tracker((reader.width, reader.height), pred, model, solver=args.solver, min_quality=min_quality)
    writer = outputs.TrackWriter(out, model, reader.fps, (reader.width, reader.height), video=not args.no_video)
    timings, found, searched, n, qualities = [], 0, 0, 0, []
    t_start = time.perf_counter()
    interrupted = False
    try:
        for frame in reader:
            t0 = time.perf_counter()
            tf = tracker(frame)
            dt = (time.perf_counter() - t0) * 1e3
            timings.append(dict(tf.timings_ms, total=dt, searched=tf.searched))
            found += tf.found
            searched += tf.searched
            if tf.quality is not None:
                qualities.append(tf.quality)
            writer.add(frame, tf)
            n += 1
            if not args.quiet and (n % 10 == 0 or n == 1):
                total = reader.header_frames or args.max_frames
                fps = n / (time.perf_counter() - t_start)
                head = _bar(n, total) if total else f"frame {n}"
                print(f"\rtracking {head} {fps:.1f} frames/s (with outputs)", end="", flush=True)
    except KeyboardInterrupt:
        interrupted = True
        print(f"\ndlm: interrupted after {n} frames: finishing the files for the frames read", file=sys.stderr)
    except Exception:
        writer.abort()
        raise
    finally:
        tracker.close()
    _say(args, "")
    wall = time.perf_counter() - t_start
    tracked = [t for t in timings if not t["searched"]]

    def med(key, rows):
        v = [r[key] for r in rows if key in r]
        return float(np.median(v)) if v else None

    summary = dict(command="track", source=str(source), frames=n, frames_found=int(found),
                   frames_searched=int(searched), header_frames=reader.header_frames,
                   ended_early=bool(reader.ended_early), video_fps=reader.fps,
                   wall_s=round(wall, 3), frames_per_s_with_outputs=round(n / max(wall, 1e-9), 2),
                   tracked_frame_median_ms={k: med(k, tracked) for k in ("roi", "cnn", "fit", "cnn_and_fit", "total")},
                   frames_per_s_tracking=(round(1e3 / med("total", tracked), 1) if tracked else None),
                   model=pred.manifest.get("config", {}), landmark_set=pred.landmark_set, interrupted=interrupted,
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
        from dlm.io.files import write_json
        write_json(out / "summary.json", summary)
        if getattr(args, "json", None):
            write_json(args.json, summary)
        print(f"dlm: no face found in any of the {n} frames", file=sys.stderr)
        return 1
    writer.close(summary)
    speed = (f"tracking {summary['frames_per_s_tracking']} frames/s (median per tracked frame, without overlays)"
             if summary["frames_per_s_tracking"] else "no frame was tracked after a search (too few frames)")
    _say(args, f"{n} frames, face in {found}; {speed}; outputs in {out}")
    return _finish(args, out, summary)


# Default weight of the temporal term for a sequence of frames 320 px on their longer side:
# on experiments/video_synth.py's synthetic clips it halved the jitter of a joint fit (24.2 ->
# 12.8 mm/frame^2) for +0.01 mm of shape error; 10x more over-smooths (jitter 3.5 against the
# truth's 1.6, shape +0.16 mm).
TEMPORAL_PER_320PX = 0.003


def cmd_capture(args) -> int:
    check_output_folder(args.output)
    import jax
    from dlm.core import facemodel as fm
    from dlm.io import images as imageio
    from dlm.product import outputs
    from dlm.product import pipeline
    from dlm.fitting import calibration, energy as en, offline
    from dlm.io.files import write_json, write_obj
    dirs = [Path(d) for d in args.cameras]
    for d in dirs:
        if not d.is_dir():
            raise UserError(f"{d}: not a folder (dlm capture takes one folder of frames per camera)")
    frames = [imageio.list_images([d]) for d in dirs]
    counts = [len(f) for f in frames]
    if min(counts) == 0:
        raise UserError(f"{dirs[counts.index(0)]}: no image files")
    if len(set(counts)) != 1:
        raise UserError("camera folders hold different frame counts: "
                        + ", ".join(f"{d}: {c}" for d, c in zip(dirs, counts)))
    C, F = len(dirs), counts[0]
    if args.max_frames:
        F = min(F, args.max_frames)
    if args.temporal is not None and not (np.isfinite(args.temporal) and args.temporal >= 0):
        raise UserError(f"--temporal must be a finite number >= 0, got {args.temporal}")
    cams = sizes_cal = None
    if args.calibration:
        try:
            cams, sizes_cal, _ = calibration.load_calibration(args.calibration, expected_cameras=C)
        except calibration.CalibrationError as e:
            raise UserError(str(e)) from None
    pred = _load_predictor(args.model, args)
    model = fm.load_face_model()
    L = pred.num_landmarks
    mu = np.zeros((F, C, L, 2), np.float32)
    sigma = np.ones((F, C, L), np.float32)
    weight = np.zeros((F, C, L), np.float32)
    sizes = np.zeros((C, 2))
    failed, images = [], {}
    for f in range(F):
        for c in range(C):
            _say(args, f"\rlandmarks {_bar(f * C + c, F * C)}", end="")
            path = frames[c][f]
            try:
                img = imageio.read_image(path)
                wh = np.array([img.shape[1], img.shape[0]])
                if f == 0 and sizes[c].sum() == 0:
                    sizes[c] = wh
                    if sizes_cal is not None and not np.allclose(sizes_cal[c], wh):
                        raise UserError(f"{path}: image is {wh[0]}x{wh[1]} but the calibration says "
                                        f"{int(sizes_cal[c][0])}x{int(sizes_cal[c][1])} for camera {c}")
                elif not np.allclose(sizes[c], wh):
                    raise imageio.InputError(f"{path}: image is {wh[0]}x{wh[1]}, camera {c}'s first frame was "
                                             f"{int(sizes[c][0])}x{int(sizes[c][1])}")
                det = pipeline.detect(img, pred, 1, args.min_face)[0]
                mu[f, c], sigma[f, c], weight[f, c] = det.mu, det.sigma, 1.0
                if f < args.overlays:
                    images[(f, c)] = img
            except UserError:
                raise
            except Exception as e:  # noqa: BLE001 - a view without a face just does not count
                failed.append(dict(input=str(path), error=_error_text(e)))
    _say(args, f"\rlandmarks {_bar(F * C, F * C)}")
    if (sizes.sum(1) == 0).any():
        raise UserError(f"camera {int(np.argmax(sizes.sum(1) == 0))}: its first frame could not be read")
    if weight.sum() == 0:
        raise UserError("no face found in any view")
    mode = "calibrated" if cams is not None else ("uncalibrated" if C > 1 else "monocular")
    _say(args, f"fitting {F} frames x {C} cameras ({mode}) ...")
    # The temporal term is in squared pixels (of every landmark in every camera) against a landmark
    # term in sigmas, so one weight means a stiffer prior on larger frames: the option is stated
    # for frames 320 px on their longer side (where experiments/video_synth.py measured it) and
    # scaled by (320 / side)^2 with camera 0's side.
    per_320 = (TEMPORAL_PER_320PX if args.temporal is None else args.temporal) if F > 1 else 0.0
    temporal = per_320 * (320.0 / float(sizes[0].max() or 320.0)) ** 2
    cfg = offline.FitConfig(landmark_set=pred.landmark_set, mode=mode,
                            weights=en.EnergyWeights(temporal=temporal))
    t0 = time.perf_counter()
    res = offline.fit(model, en.Observations(mu, sigma, weight), sizes if C > 1 else tuple(sizes[0]),
                      cameras=cams, config=cfg)
    fit_s = time.perf_counter() - t0
    out = Path(args.output)
    faces = outputs.overlay_faces(model)
    for f in range(F):
        params = jax.tree_util.tree_map(lambda a: np.asarray(a[f]), res.params)
        folder = out / f"frame_{f:05d}"
        write_obj(folder / "mesh.obj", np.asarray(res.vertices[f]), np.asarray(model.faces), np.asarray(model.uvs),
                  np.asarray(model.face_uvs), header="dlm capture, cm, world frame of the calibration")
        write_json(folder / "params.json", dict(outputs.params_dict(params, model), frame=f,
                                                inputs=[str(frames[c][f]) for c in range(C)],
                                                views_with_face=int(weight[f, :, 0].sum())))
        for c in range(C):
            if (f, c) in images:
                cam = jax.tree_util.tree_map(lambda a: np.asarray(a[c]), res.cameras)
                mesh = np.asarray(res.vertices[f])
                imageio.write_image(folder / f"overlay_cam{c}.png",
                                    outputs.draw_overlay(images[(f, c)], mesh, cam, faces, mu[f, c], sigma[f, c]))
    calibration.save_calibration(out / "cameras.json", res.cameras, sizes, [d.name for d in dirs])
    summary = dict(command="capture", cameras=[str(d) for d in dirs], frames=F, mode=mode,
                   temporal_per_320px=per_320, temporal_weight=temporal,
                   views_with_face=int(weight[:, :, 0].sum()), fit_seconds=round(fit_s, 2),
                   iterations=int(res.iterations), energy=res.energy, landmark_set=pred.landmark_set,
                   identity=[float(x) for x in np.asarray(res.vars.identity)],
                   views_skipped=failed, failed=[])
    _say(args, f"fitted in {fit_s:.1f} s; per-frame meshes and parameters in {out}; cameras in {out / 'cameras.json'}")
    if failed:
        # A view without a face does not fail the capture (the other views carry the frame).
        print(f"dlm: note: {len(failed)} view(s) had no usable face and were left out of the fit "
              f"(summary.json: views_skipped)", file=sys.stderr)
    return _finish(args, out, summary)


def _expand_inputs(items) -> list[Path]:
    """Files from globs, folders, files, and .txt lists (one path per line, # comments)."""
    import glob
    from dlm.io import images as imageio
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
    check_output_folder(args.output)
    """Many photos: decode on host threads, landmarks per image, fits in padded batches
    (`dlm.fitting.batch.fit_batch`), the files of `dlm reconstruct` per input.  Resumable."""
    from concurrent.futures import ThreadPoolExecutor

    import jax
    from dlm.core import facemodel as fm
    from dlm.io import images as imageio
    from dlm.product import outputs
    from dlm.product import pipeline
    from dlm.fitting import batch as fb
    paths = _expand_inputs(args.inputs)
    if not paths:
        raise UserError("no input images matched")
    pred = _load_predictor(args.model, args)
    out = Path(args.output)
    model = fm.load_face_model()
    names = _unique_names(paths)
    files = ("landmarks.json", "mesh.obj", "overlay.png", "params.json")
    todo = [i for i in range(len(paths)) if not all((out / names[i] / f).exists() for f in files)]
    skipped = len(paths) - len(todo)
    if skipped:
        _say(args, f"{skipped} of {len(paths)} inputs already done in {out}; resuming")
    failed, done = [], []
    posed = jax.jit(jax.vmap(lambda p: fm.vertices(model, p)))
    t_start = time.perf_counter()
    pool = ThreadPoolExecutor(args.workers)

    def load(i):
        try:
            return i, imageio.read_image(paths[i]), None
        except imageio.InputError as e:
            return i, None, str(e)

    chunks = [todo[k:k + args.batch_size] for k in range(0, len(todo), args.batch_size)]
    n_done = 0
    next_chunk = pool.map(load, chunks[0]) if chunks else None
    for c, chunk in enumerate(chunks):
        loaded = list(next_chunk)
        if c + 1 < len(chunks):          # decode the next chunk while this one is processed
            next_chunk = pool.map(load, chunks[c + 1])
        items = []
        for i, img, err in loaded:
            if err:
                failed.append(dict(input=str(paths[i]), error=err))
                continue
            try:
                det = pipeline.detect(img, pred, 1, args.min_face)[0]
            except Exception as e:  # noqa: BLE001 - reported per input
                failed.append(dict(input=str(paths[i]), error=_error_text(e)))
                continue
            items.append((i, img, det))
        if items:
            res = fb.fit_batch(model, np.stack([d.mu for _, _, d in items]), np.stack([d.sigma for _, _, d in items]),
                               np.array([(im.shape[1], im.shape[0]) for _, im, _ in items], np.float32),
                               fitter=args.fitter, landmark_set=pred.landmark_set)
            verts = np.asarray(posed(res.params))
            for k, (i, img, det) in enumerate(items):
                p = jax.tree_util.tree_map(lambda a: a[k], res.params)
                cam = fm.Camera(np.zeros(3, np.float32), np.zeros(3, np.float32), np.float32(res.focal[k]),
                                res.principal_point[k])
                fr = pipeline.FaceResult((img.shape[1], img.shape[0]), det.roi, pred.landmark_set, det.mu, det.sigma,
                                         p, cam, res.landmarks_2d[k],
                                         {"landmarks": float(res.landmark_energy[k])}, verts[k])
                outputs.write_face(out / names[i], img, fr, model, extra=dict(input=str(paths[i]),
                                                                               fitter=args.fitter))
                done.append(dict(input=str(paths[i]), output=str(out / names[i]), score=float(det.score)))
        n_done += len(chunk)
        rate = n_done / (time.perf_counter() - t_start)
        _say(args, f"\rbatch {_bar(n_done, len(todo))} {rate:.2f} images/s, {len(failed)} failed", end="")
    pool.shutdown()
    _say(args, "")
    wall = time.perf_counter() - t_start
    summary = dict(command="batch", num_inputs=len(paths), already_done=skipped, processed=len(todo),
                   succeeded=done, failed=failed, fitter=args.fitter, batch_size=args.batch_size,
                   wall_s=round(wall, 3), images_per_s=round(len(todo) / max(wall, 1e-9), 3),
                   devices=[str(d) for d in jax.devices()], landmark_set=pred.landmark_set)
    _say(args, f"{len(done)} reconstructed, {len(failed)} failed, {skipped} skipped (done before); outputs in {out}")
    return _finish(args, out, summary)
