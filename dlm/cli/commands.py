"""The product commands: `dlm reconstruct`, `dlm track`, `dlm capture` (argument parsing in dlm.cli.main).

Each writes its files atomically, prints a progress line unless --quiet, writes a machine-readable
summary (OUT/summary.json, and --json PATH if given), and exits non-zero when any input failed.
A batch carries on past a bad file and lists it at the end.
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np


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
        from tqdm import tqdm
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


def example_photo() -> Path:
    """The portrait `--example` reconstructs: scikit-image's astronaut.png (Eileen Collins, NASA,
    public domain), installed with scikit-image, a dependency."""
    import skimage
    return Path(skimage.__file__).parent / "data" / "astronaut.png"


def cmd_reconstruct(args) -> int:
    """`dlm.product.photos.reconstruct_photos` with progress lines, a few output paths, quality warnings."""
    check_output_folder(args.output)
    from dlm.io import images as imageio
    from dlm.product.photos import reconstruct_photos
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
    bar = progress_bar(args, "tracking", unit="frame")
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
                   frames_searched=int(searched), header_frames=reader.header_frames,
                   ended_early=bool(reader.ended_early), video_fps=reader.fps,
                   wall_s=round(wall, 3), frames_per_s_with_outputs=round(n / max(wall, 1e-9), 2),
                   tracked_frame_median_ms={k: med(k, tracked) for k in ("roi", "cnn", "fit", "cnn_and_fit", "total")},
                   frames_per_s_tracking=(round(1e3 / med("total", tracked), 1) if tracked else None),
                   model=pred.manifest.get("config", {}), landmark_set=pred.landmark_set, solver=args.solver,
                   interrupted=interrupted,
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


def cmd_capture(args) -> int:
    check_output_folder(args.output)
    from dlm.product import capture as cap
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
    """Many photos (`dlm.product.batch.reconstruct_batch`): resumable, failures listed at the end."""
    check_output_folder(args.output)
    from dlm.product.batch import reconstruct_batch
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
