"""Benchmarks of the stages up to the product (face model, fitters, renderer, predictor, real-time
path, batch fitting). Each returns a dict of figures; the CLI writes it with --json.  The training
step's benchmark is `dlm.train.bench`."""
from __future__ import annotations

import os
import time

import cv2
import jax
import jax.numpy as jnp
import numpy as np

import dlm
from dlm.core import facemodel as fm
from dlm.fitting import batch
from dlm.fitting import energy as en
from dlm.fitting import offline
from dlm.fitting import realtime as rt
from dlm.io import images as imageio
from dlm.eval.pacing import frame_schedule
from dlm.io.provenance import shared_real_path
from dlm.landmarks import predictor as lmk
from dlm.product import pipeline
from dlm.synth import render as synth
from dlm.synth import scenes

def time_fn(fn, *args, repeats: int = 50, warmup: int = 3) -> dict:
    """Median and spread of wall time of a jitted fn (blocks on its result)."""
    t0 = time.perf_counter()
    jax.block_until_ready(fn(*args))
    first = time.perf_counter() - t0
    for _ in range(warmup):
        jax.block_until_ready(fn(*args))
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - t0)
    t = np.asarray(times) * 1e3
    return dict(median_ms=float(np.median(t)), p10_ms=float(np.percentile(t, 10)),
                p90_ms=float(np.percentile(t, 90)), first_call_ms=first * 1e3, repeats=repeats)


def bench_model(repeats: int = 50) -> dict:
    """Time M(beta, psi, theta) for the whole mesh and for landmark sets alone."""
    model = dlm.load_face_model()
    key = jax.random.key(0)
    k1, k2, k3 = jax.random.split(key, 3)
    params = dlm.FaceParams.zeros(model).replace(
        identity=jax.random.normal(k1, (model.num_identity,)),
        expression=jax.random.uniform(k2, (model.num_expression,)) * 0.3,
        joint_rotations=0.2 * jax.random.normal(k3, (4, 3)),
        translation=jnp.array([0.0, 0.0, -60.0]))
    full = jax.jit(lambda m, p: dlm.vertices(m, p))
    out = {"full_mesh": time_fn(full, model, params, repeats=repeats)}
    out["full_mesh"]["num_vertices"] = model.num_vertices
    for name in ("703", "320", "68"):
        fn = jax.jit(lambda m, p, n=name: dlm.landmark_vertices(m, p, n))
        out[f"landmarks_{name}"] = time_fn(fn, model, params, repeats=repeats)
        # As a fitter uses it: rows gathered once, outside the timed function.
        sub = fm.restrict(model, model.landmarks[name])
        out[f"landmarks_{name}_restricted"] = time_fn(jax.jit(dlm.vertices), sub, params, repeats=repeats)
    sub = fm.restrict(model, model.landmarks["703"])
    jac = jax.jit(lambda m, p: jax.jacfwd(lambda q: dlm.vertices(m, q))(p))
    out["landmarks_703_restricted_jacfwd"] = time_fn(jac, sub, params, repeats=max(5, repeats // 5))
    return out


def bench_fit_realtime(repeats: int = 50) -> dict:
    """Per-frame LM solve: 320 landmarks, pose + expression, 5 iterations (structured, dense, exported),
    and the tracker's solve: 3 LM iterations (J^T J at each), or 3 or 2 with J^T J kept while
    steps succeed (`rt.solve_frame`'s hessian "lazy", the tracker's default)."""
    model = dlm.load_face_model()
    # Two consecutive frames of a 1-second, 30-frame head turn: the per-frame warm start of tracking.
    seq = scenes.synthetic_sequence(model, jax.random.key(0), 30, 256, "320")[10:12]
    st = rt.analyse_sparsity(model, "320")
    p0, p1 = seq[0].params, seq[1].params
    mu = fm.project_points(seq[1].camera, fm.landmark_vertices(model, p1, "320"))
    mu = mu + 1.0 * jax.random.normal(jax.random.key(1), mu.shape)
    prev = fm.project_points(seq[0].camera, fm.landmark_vertices(model, p0, "320"))
    frame = rt.FrameInput(mu, jnp.ones(320), jnp.ones(320), prev, jnp.asarray(1.0))
    consts = rt.make_constants(model, p1.identity, "320", seq[1].camera.focal, seq[1].camera.principal_point)
    x0 = rt.pack(p0.joint_rotations, p0.translation, p0.expression)  # warm start: previous frame
    out = {}
    for name, solver in (("structured", rt.make_solver(st, 5, "structured")),
                         ("dense_jacfwd", rt.make_solver(st, 5, "dense")),
                         ("exported_structured", rt.load_exported_solver(rt.export_solver(st, 5)))):
        out[name] = time_fn(solver, x0, frame, consts, repeats=repeats)
        s = solver(x0, frame, consts)
        out[name]["final_cost"] = float(s.cost)
        out[name]["initial_cost"] = float(rt.cost(x0, frame, consts, st))
    # The tracker's solve: LM's 3 iterations (RealtimeFitter's before 2026-12-06) against J^T J
    # kept while steps succeed, with 3 (its default since) or 2 fresh-gradient steps.
    for name, hessian, iters in (("tracker_lm_3_iterations", "every", 3), ("tracker_lazy_jtj_3_iterations", "lazy", 3),
                                 ("tracker_lazy_jtj_2_iterations", "lazy", 2)):
        solver = rt.make_solver(st, iters, "structured", hessian=hessian)
        out[name] = time_fn(solver, x0, frame, consts, repeats=repeats)
        out[name]["final_cost"] = float(solver(x0, frame, consts).cost)
    out["sparsity"] = rt.sparsity_stats(st)
    out["speedup_structured_vs_dense"] = out["dense_jacfwd"]["median_ms"] / out["structured"]["median_ms"]
    out["speedup_lazy_jtj_3_vs_lm_3"] = (out["tracker_lm_3_iterations"]["median_ms"] /
                                         out["tracker_lazy_jtj_3_iterations"]["median_ms"])
    return out


def bench_fit_offline(num_frames: int = 100, num_cameras: int = 4) -> dict:
    """Joint offline fit of a synthetic sequence seen by calibrated cameras (703 landmarks)."""
    model = dlm.load_face_model()
    S = 512
    seq = scenes.synthetic_sequence(model, jax.random.key(2), num_frames, S)
    cams = scenes.arc_cameras(model, seq[0], num_cameras, 50.0)
    key = jax.random.key(3)
    mu = []
    for f, sc in enumerate(seq):
        lm3 = fm.landmark_vertices(model, sc.params, "703")
        mu.append(jnp.stack([fm.project_points(jax.tree_util.tree_map(lambda a: a[c], cams), lm3)
                             for c in range(num_cameras)]))
    mu = jnp.stack(mu)
    mu = mu + 1.0 * jax.random.normal(key, mu.shape)
    obs = en.Observations(mu, jnp.ones(mu.shape[:-1]), jnp.ones(mu.shape[:-1]))
    t0 = time.perf_counter()
    res = offline.fit(model, obs, (S, S), cameras=cams,
                      config=offline.FitConfig(mode="calibrated", weights=en.EnergyWeights(temporal=0.01)))
    wall = time.perf_counter() - t0
    # Second run: the same shapes, so no compilation.
    t0 = time.perf_counter()
    res = offline.fit(model, obs, (S, S), cameras=cams,
                      config=offline.FitConfig(mode="calibrated", weights=en.EnergyWeights(temporal=0.01)))
    wall2 = time.perf_counter() - t0
    gt = np.stack([np.asarray(fm.vertices(model, sc.params)) for sc in seq[:min(5, num_frames)]])
    pred = np.stack([np.asarray(fm.vertices(model, jax.tree_util.tree_map(lambda a: a[f], res.params)))
                     for f in range(min(5, num_frames))])
    return dict(num_frames=num_frames, num_cameras=num_cameras, num_landmarks=703,
                wall_s_first_call_with_compile=wall, wall_s_second_call=wall2, iterations=res.iterations,
                posed_vertex_error_mm_median_first5=float(np.median(np.linalg.norm(pred - gt, axis=-1)) * 10),
                energy=res.energy)


def bench_synth(size: int = 256, batch_size: int = 8, batches: int = 8, landmark_set: str = "703",
                augment: bool = True, env_prob: float = 0.0, **switches) -> dict:
    """Rendered and labelled training images per second through `synth.batches` (the synthetic
    input path: render, augment, labels, to host numpy uint8), after one warm-up batch; env_prob
    and switches (`dlm.synth.switches.REALISM_SWITCHES` by name) as `synth.make_assets`.  The figures name
    every switch, on or off."""
    on = synth.realism_switches(**switches)
    t0 = time.perf_counter()
    stream = synth.batches(seed=0, batch_size=batch_size, size=size, landmark_set=landmark_set, prefetch=1,
                           augment=augment, env_prob=env_prob, **on)
    b = next(stream)  # compiles
    warm = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(batches):
        b = next(stream)
    dt = time.perf_counter() - t0
    stream.close()
    n = batches * batch_size
    return dict(images_per_s=n / dt, ms_per_image=dt / n * 1e3, images=n, size=size, batch_size=batch_size,
                landmarks=int(b["landmarks"].shape[1]), augment=augment, env_prob=env_prob, **on,
                warmup_s_with_compile=warm)


def bench_predictor(model: str = "realtime", repeats: int = 200, frame_size: tuple = (640, 480),
                    runtime: str | None = None) -> dict:
    """Latency of one landmark prediction from a video frame: the upright crop (one cv2.warpAffine
    of a similarity transform, as the real-time tracker aligns the face) plus the network, and the
    network alone.  Run under `--threads 1` for the single-thread figure.  runtime: the network's
    (`Predictor`; None: its default); the constants-against-arguments comparison is XLA's either way."""
    pred = lmk.Predictor.load(lmk.resolve_shipped(model), runtime=runtime)  # "offline" falls back as in every command
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 255, (frame_size[1], frame_size[0], 3), np.uint8)
    s = pred.size
    angle, scale = 12.0, s / 220.0
    m = cv2.getRotationMatrix2D((frame_size[0] / 2, frame_size[1] / 2), angle, scale)
    m[:, 2] += np.array([s / 2, s / 2]) - np.array([frame_size[0] / 2, frame_size[1] / 2])

    def crop_and_predict():
        crop = cv2.warpAffine(frame, m, (s, s), flags=cv2.INTER_LINEAR)
        return pred(crop[None])

    crop = cv2.warpAffine(frame, m, (s, s))[None]
    net_only = time_fn(lambda: pred(crop), repeats=repeats)
    full = time_fn(crop_and_predict, repeats=repeats)
    # The peer the predictor's calls are measured against: the same network and weights passed to
    # the compiled program as arguments, as every call ran before session 54 (`Predictor.apply_fn`
    # compiles them in as constants).  Interleaved rounds, so a machine whose speed drifts during
    # the run shifts both alike; the ratio is the figure.
    # With runtime "onnxruntime", ONNX Runtime's calls join the same rounds: its ratio to XLA's in one run.
    as_args, as_constants = jax.jit(pred.predict_fn), jax.jit(pred.apply_fn)
    fns = {"constants": lambda: as_constants(crop), "arguments": lambda: as_args(pred.variables, crop)}
    if pred.runtime != "xla":
        fns[pred.runtime] = lambda: pred(crop)
    rounds = {k: [] for k in fns}
    for fn in fns.values():
        jax.block_until_ready(fn())
    for _ in range(10):
        for k, fn in fns.items():
            rounds[k].append(time_fn(fn, repeats=max(repeats // 10, 5), warmup=1)["median_ms"])
    weights = dict(constants_median_ms=float(np.median(rounds["constants"])),
                   arguments_median_ms=float(np.median(rounds["arguments"])))
    weights["ratio"] = weights["constants_median_ms"] / weights["arguments_median_ms"]
    vs_xla = None
    if pred.runtime != "xla":
        vs_xla = dict(runtime=pred.runtime, median_ms=float(np.median(rounds[pred.runtime])),
                      xla_median_ms=weights["constants_median_ms"])
        vs_xla["ratio"] = vs_xla["median_ms"] / vs_xla["xla_median_ms"]
    return dict(model=model, network=pred.network, size=s, landmarks=pred.num_landmarks, runtime=pred.runtime,
                crop_and_network=full, network_only=net_only, weights_as_constants_vs_arguments=weights,
                runtime_vs_xla=vs_xla, jax_devices=str(jax.devices()))


def default_video() -> str | None:
    """The development video beside the repository (../shared/real/video), if present."""
    path = shared_real_path("video", "short_hamilton_clip.mp4")
    return path if os.path.exists(path) else None


def bench_realtime(video: str, model: str = "realtime", max_frames: int | None = None, warmup: int = 10,
                   solver: str = "jit", fuse: bool | None = None, passes: int = 3, max_search_gap: int = 8,
                   search_near: bool = True, detector="yunet", refit_every: int = 30, fps: float = 0.0,
                   background_search: bool = False, hessian: str = "lazy", iterations: int | None = None,
                   runtime: str | None = None, async_refit: bool | None = None) -> dict:
    """Per-frame latency of the real-time path over a real video: upright crop from the previous
    frame's fit + landmark CNN + real-time fit (+ the next ROI), i.e. everything `dlm.Tracker`
    does per frame.  Frames are decoded before timing.  The first `warmup` frames (compilation,
    the first frame's full ROI search) are not timed, and an untimed pass over them first compiles
    every program, the identity refit's included; frames that fell back to the full search
    are reported apart.  The video is tracked `passes` times from a reset tracker (the warm-up
    frames untimed each time) and the frames pooled; per-pass medians show the run-to-run noise.
    Run under `--threads 1` for the single-thread figure.  every_frame: the same over every timed
    frame, searches and frames without a face included (what a whole clip costs); max_search_gap:
    the Tracker's back-off between searches that find no face; refit_every: the tracker's identity
    refit schedule (`RealtimeFitter`; 0: none).  fps > 0: frames arrive at that rate, as from a camera
    (`dlm.eval.pacing.frame_schedule`: a frame's time runs from its arrival, frames that arrived while an older one
    ran are dropped, counted in frames_dropped); the tracker's background work (the identity refit
    thread) runs between frames, as it would live.  0: frames back to back, so background work
    takes its time from the frames.  async_refit: the identity refits in a background thread (True)
    or on the frame that starts them (False); None: as `dlm track` runs them, in the background at
    fps > 0 (a camera), inline back to back (a file).  background_search: the Tracker's full search runs in a
    background thread (as `dlm track --webcam` runs it); frames_search_started counts the frames
    that started one, and searched_frame times only what ran on the frame thread.  hessian and
    iterations (None: the fitter's default): the per-frame solve's (`RealtimeFitter`).  runtime: what runs
    the predictor's calls (`Predictor`; None: its default); fuse: the Tracker's (None: the CNN and the fit as one
    XLA program when the predictor runs XLA, two calls when it runs ONNX Runtime)."""
    if fps < 0:
        raise ValueError(f"fps must be 0 (back to back) or positive, got {fps}")
    reader = imageio.VideoReader(video, max_frames=max_frames)
    frames = list(reader)
    if len(frames) <= warmup:
        raise ValueError(f"{video}: only {len(frames)} frames decoded, need more than the {warmup} warm-up frames")
    pred = lmk.shipped(model) if runtime is None else lmk.Predictor.load(lmk.resolve_shipped(model), runtime=runtime)
    tracker = pipeline.Tracker((reader.width, reader.height), pred, solver=solver, fuse=fuse,
                               max_search_gap=max_search_gap, search_near=search_near, detector=detector,
                               refit_every=refit_every, background_search=background_search, hessian=hessian,
                               # None: as `dlm track` runs them, in the background for a camera's paced
                               # frames, inline for a file's back-to-back ones.
                               async_refit=fps > 0 if async_refit is None else async_refit,
                               **({} if iterations is None else dict(num_iters=iterations)))
    if passes < 1:
        raise ValueError(f"passes must be at least 1, got {passes}")
    # An untimed compile pass: the warm-up frames, then the first identity refit is waited for.
    # Its program compiles once per process (~25 s of one core, in the refit thread): left in the
    # first timed pass it would share the core with ~100 frames, a compilation, not a frame cost.
    for f in frames[:warmup]:
        tracker(f)
    tracker.fitter.wait_for_refit()
    tracker.wait_for_search()
    rows, pass_medians, dropped = [], [], 0
    for _ in range(passes):
        tracker.reset()
        this = []
        last = -1
        for i, t0 in frame_schedule(len(frames), fps):
            refits = tracker.fitter.refits["started"]
            tf = tracker(frames[i])
            total = (time.perf_counter() - t0) * 1e3
            dropped += max(0, i - max(last + 1, warmup))     # timed frames skipped since the last one
            last = i
            if i < warmup:
                continue
            this.append(dict(tf.timings_ms, total=total, searched=tf.searched, found=tf.found,
                             skipped=tf.search_skipped, near=tf.found_near, by_detector=tf.found_by_detector,
                             started_search=tf.search_started,
                             start=tf.fit.start if tf.found else None,
                             refit=tracker.fitter.refits["started"] > refits))
        rows += this
        t_pass = [r["total"] for r in this if not r["searched"] and r["found"]]
        pass_medians.append(float(np.median(t_pass)) if t_pass else None)
    tracker.close()
    tracked = [r for r in rows if not r["searched"] and r["found"]]

    def stats(key, rs):
        v = np.array([r[key] for r in rs if key in r])
        return dict(median_ms=float(np.median(v)), p10_ms=float(np.percentile(v, 10)),
                    p90_ms=float(np.percentile(v, 90)), p99_ms=float(np.percentile(v, 99)), max_ms=float(v.max()),
                    mean_ms=float(v.mean())) if len(v) else None

    return dict(video=os.path.basename(video), frame_size=[reader.width, reader.height], frames_timed=len(rows),
                frames_tracked=len(tracked), frames_searched=sum(r["searched"] for r in rows),
                frames_without_face=sum(not r["found"] for r in rows), warmup_frames=warmup,
                frames_search_skipped=sum(r["skipped"] for r in rows), max_search_gap=max_search_gap,
                background_search=background_search,
                frames_search_started=sum(r["started_search"] for r in rows),
                search_near=search_near, frames_found_near_lost_track=sum(r["near"] for r in rows),
                detector=None if tracker.detector is None else detector if isinstance(detector, str) else "custom",
                frames_found_by_detector=sum(r["by_detector"] for r in rows),
                searched_frame=stats("total", [r for r in rows if r["searched"]]),
                # Frames that started a track again: "pose" kept the lost track's identity
                # (milliseconds of solve), "cold" ran the offline fitter (identity too).
                frames_started={k: sum(r["start"] == k for r in rows) for k in ("pose", "cold")},
                started_frame={k: stats("total", [r for r in rows if r["start"] == k]) for k in ("pose", "cold")},
                every_frame=stats("total", rows),
                model=model, network=pred.network, input_size=pred.size, landmarks=pred.num_landmarks,
                solver=solver, passes=passes, per_pass_median_ms=pass_medians, per_frame=stats("total", tracked),
                frames_per_s=(1e3 / stats("total", tracked)["median_ms"]) if tracked else None,
                fused=tracker.fuse, roi=stats("roi", tracked), cnn=stats("cnn", tracked), fit=stats("fit", tracked),
                cnn_and_fit=stats("cnn_and_fit", tracked),
                identity_refit_frames=sum(r["refit"] for r in tracked), refit_every=refit_every, fps=fps, hessian=hessian,
                refit_in_background=tracker.fitter.async_refit,
                solve_iterations=tracker.fitter.num_iters,
                frames_dropped=dropped,
                note="per_frame: median over tracked frames of crop + CNN + fit + next ROI; identity refits "
                     "(started once the keyframes are full after a start, then every refit_every frames) are included in the mean and p90; fused: the CNN and the fit "
                     "ran as one compiled program (cnn_and_fit), otherwise cnn and fit are timed apart",
                jax_devices=str(jax.devices()))


def bench_streams(video: str, model: str = "realtime", streams=(1, 8), max_frames: int | None = None,
                  warmup: int = 10, passes: int = 2, max_search_gap: int = 8) -> dict:
    """Throughput mode (`pipeline.track_streams`) on the frames of a clip that show a face: a first
    untimed pass tracks the clip with one Tracker and keeps the frames it tracked (a face in view;
    a search costs hundreds of tracked frames and would otherwise swamp the figure, see
    `bench_realtime`'s every_frame).  Then N streams of those frames, stream i starting i / N of
    the way through them, tracked round by round with one batched CNN call per round; for each N
    in `streams`: frames per second over every timed round and the median time per frame over
    rounds where every stream was tracked.  N = 1 runs the same code with one stream.  Run under
    `--threads 1`: frames/s per core."""
    reader = imageio.VideoReader(video, max_frames=max_frames)
    clip = list(reader)
    pred = lmk.shipped(model)
    first = pipeline.Tracker((reader.width, reader.height), pred, fuse=False, max_search_gap=max_search_gap)
    frames = []
    for f in clip:
        r = first(f)
        if r.found and not r.searched:
            frames.append(f)
    first.close()
    if len(frames) <= warmup + 10:
        raise ValueError(f"{video}: a face was tracked in only {len(frames)} of {len(clip)} frames, need more than "
                         f"{warmup + 10}")
    out = []
    for n in streams:
        trackers = [pipeline.Tracker((reader.width, reader.height), pred, fuse=False, max_search_gap=max_search_gap)
                    for _ in range(n)]
        offsets = [i * len(frames) // n for i in range(n)]
        rounds, tracked_rounds = [], []
        for _ in range(passes):
            for tr in trackers:
                tr.reset()
            for j in range(len(frames)):
                batch = [frames[(o + j) % len(frames)] for o in offsets]
                t0 = time.perf_counter()
                res = pipeline.track_streams(trackers, batch)
                dt = (time.perf_counter() - t0) * 1e3
                if j < warmup:
                    continue
                rounds.append(dt)
                if all(r.found and not r.searched for r in res):
                    tracked_rounds.append(dt / n)
        for tr in trackers:
            tr.close()
        total_s = sum(rounds) / 1e3
        out.append(dict(streams=n, rounds=len(rounds), frames=len(rounds) * n,
                        frames_per_s=len(rounds) * n / total_s,
                        all_tracked_rounds=len(tracked_rounds),
                        tracked_frame_median_ms=float(np.median(tracked_rounds)) if tracked_rounds else None))
    base = out[0]
    for r in out:
        r["frames_per_s_vs_first"] = r["frames_per_s"] / base["frames_per_s"]
        if r["tracked_frame_median_ms"] and base["tracked_frame_median_ms"]:
            r["tracked_frame_speedup_vs_first"] = base["tracked_frame_median_ms"] / r["tracked_frame_median_ms"]
    return dict(video=os.path.basename(video), frame_size=[reader.width, reader.height], clip_frames=len(clip),
                frames_with_a_tracked_face=len(frames),
                warmup_frames=warmup, passes=passes, model=model, network=pred.network, input_size=pred.size,
                max_search_gap=max_search_gap, results=out, jax_devices=str(jax.devices()))


def bench_batch(fitters=("realtime", "offline"), sizes=(1, 8, 64, 512, 4096), offline_sizes=(1, 8),
                repeats: int = 3, landmark_set: str = "320", progress=None) -> dict:
    """Fits per second of `dlm.fitting.batch.fit_batch` at each batch size, over every device.

    Inputs: projections of random synthetic heads (sigma 2 px), so the work per fit is a real
    fit's.  Per size: one call to compile, then the median of `repeats` timed calls (each one
    transfer in, the solve, one transfer out).  compile_s is the first call's time less the
    median (compilation and one-off set-up).  progress: called with one line per step."""
    say = progress or (lambda line: None)
    model = fm.load_face_model()
    n_max = max(max(sizes, default=1), max(offline_sizes, default=1))
    # 64 distinct heads, tiled: the solve cost does not depend on which head a row holds.
    base = []
    for i in range(64):
        sc = scenes.sample_scene(jax.random.key(i), model, 256, scenes.SceneRanges(max_yaw=np.radians(40)))
        base.append(np.asarray(fm.project_points(sc.camera, fm.vertices(model, sc.params,
                                                                         model.landmarks[landmark_set]))))
    base = np.stack(base).astype(np.float32)
    mu_all = np.tile(base, (-(-n_max // 64), 1, 1))[:n_max]
    out = {}
    for fitter in fitters:
        rows = []
        for n in (sizes if fitter == "realtime" else offline_sizes):
            mu = mu_all[:n]
            sigma = np.full(mu.shape[:2], 2.0, np.float32)
            say(f"{fitter} batch {n}: compiling and first call ...")
            t0 = time.perf_counter()
            batch.fit_batch(model, mu, sigma, (256, 256), fitter=fitter, landmark_set=landmark_set)
            first = time.perf_counter() - t0
            say(f"{fitter} batch {n}: first call {first:.1f} s; {repeats} timed calls ...")
            ts = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                r = batch.fit_batch(model, mu, sigma, (256, 256), fitter=fitter, landmark_set=landmark_set)
                ts.append(time.perf_counter() - t0)
            med = float(np.median(ts))
            rms = float(np.sqrt(np.mean(np.sum((r.landmarks_2d - mu) ** 2, -1))))
            rows.append(dict(batch_size=n, padded_to=batch.bucket_size(n, len(jax.devices())),
                             median_s=med, fits_per_s=n / med, first_call_s=first,
                             compile_s=max(first - med, 0.0),
                             landmark_rms_px=rms))
        out[fitter] = rows
    return dict(results=out, devices=[str(d) for d in jax.devices()], landmark_set=landmark_set, repeats=repeats)
