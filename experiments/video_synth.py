"""A synthetic MICC-like video benchmark: per-frame fits averaged versus one joint fit, and jitter.

Reproduce (2-core CPU; the full run about an hour, --quick about 4 minutes):
    python experiments/video_synth.py                    # 8 sequences x 30 frames, seed 8000
    python experiments/video_synth.py --quick            # 1 sequence x 8 frames (CI)

Data: each sequence is one person (identity from the model's prior) filmed by a still camera for
`--frames` frames (dlm.synth.scenes.sample_sequence: the head swings from side to side up to 40 degrees
of yaw, nods, drifts and talks, passing smoothly through 3 random states: at 30 frames a second,
one second of video), rendered by
dlm.synth.render.render_scene with one look per sequence (skin, hair, glasses, occluders, light,
background), 320 x 320 px, no image augmentation.

Pipeline: dlm's own region-of-interest search and the landmark CNN on every frame
(`dlm.product.pipeline.detect`, `--model`, default the shipped real-time model), then the offline fitter:
- "per-frame average": each frame fitted alone, the neutral meshes averaged (MICC single view,
  Deng et al. 2019: one shape per frame, the meshes averaged);
- "joint": one fit over all frames (one identity and focal length, a pose and expression per
  frame), the hand-set energy weights, with the temporal term at each weight of `--temporal`;
- ablations of the joint fit (at the default temporal weight): the identity, expression and joint
  priors switched off in turn, and a fixed sigma (every landmark of a frame gets the frame's median
  predicted sigma).  The self-intersection and expression-bound terms are ablated on single
  images only (experiments/ablate_fit.py), to keep this run near an hour on 2 CPU cores.

Metrics: shape error as in NoW (experiments/now_synth.py: 7-landmark similarity, ICP, face-region
point-to-surface distance, mm) of the neutral mesh against the person's true neutral; jitter as the
mean frame-to-frame vertex acceleration |v[t+1] - 2 v[t] + v[t-1]| of the posed face-region mesh in
camera space (mm per frame^2; the true motion's own value is reported beside it); and the RMS
distance (px) of the fitted landmark projections to the true (noise-free) ones.
"""
from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import numpy as np

from common import RESULTS, markdown_table, record, start, write_table
from now_synth import FACE_REGION, Scorer, plot_cumulative, summarise

CACHE = Path(__file__).resolve().parent / "cache"
DEFAULT_TEMPORAL = 0.003


def get_config(quick: bool = False) -> dict:
    return dict(sequences=1 if quick else 8, frames=8 if quick else 30, knots=2 if quick else 3, seed=8000,
                image_size=320, model="realtime",
                temporal=[0.0, DEFAULT_TEMPORAL] if quick else [0.0, DEFAULT_TEMPORAL, 0.03])


def _key(config: dict) -> str:
    keep = {k: config[k] for k in ("sequences", "frames", "knots", "seed", "image_size", "model")}
    return hashlib.sha256(json.dumps(keep, sort_keys=True).encode()).hexdigest()[:12]


_RENDER = {}


def render_sequence(config: dict, model, assets, s: int):
    """(frames (F, S, S, 3) uint8, scene with params batched over frames) of sequence s."""
    import jax
    import jax.numpy as jnp
    from dlm.synth import scenes
    from dlm.synth import render as synth
    size = config["image_size"]
    key = jax.random.fold_in(jax.random.key(config["seed"]), s)
    scene = scenes.sample_sequence(jax.random.fold_in(key, 0), model, size, config["frames"],
                                   num_knots=config["knots"])
    if size not in _RENDER:
        ids = jnp.asarray(model.landmarks["320"])
        _RENDER[size] = jax.jit(lambda k, p, c: synth.render_scene(k, model, assets, size, ids, p, c, None))
    look = jax.random.fold_in(key, 1)
    frames = []
    for f in range(config["frames"]):
        p = jax.tree_util.tree_map(lambda a: a[f], scene.params)
        frames.append(synth.to_uint8(_RENDER[size](look, p, scene.camera).image))
    return np.stack(frames), scene


def detect_dataset(config: dict, progress: bool = True) -> dict:
    """Landmarks of every frame (cached): mu (S, F, L, 2), sigma (S, F, L), found (S, F), the true
    identity (S, I), expression (S, F, E), joint rotations (S, F, 4, 3), translation (S, F, 3),
    focal (S,) and principal point (S, 2)."""
    path = CACHE / f"video_synth_{_key(config)}.npz"
    if path.exists():
        with np.load(path) as z:
            return {k: z[k] for k in z.files}
    from dlm.core import facemodel as fm
    from dlm.landmarks import predictor as lmk
    from dlm.product import pipeline
    from dlm.synth import render as synth
    model = fm.load_face_model()
    assets = synth.make_assets(model)
    pred = lmk.shipped(config["model"])
    n, F, L = config["sequences"], config["frames"], pred.num_landmarks
    out = dict(mu=np.zeros((n, F, L, 2), np.float32), sigma=np.ones((n, F, L), np.float32),
               found=np.zeros((n, F), bool), identity=np.zeros((n, model.num_identity), np.float32),
               expression=np.zeros((n, F, model.num_expression), np.float32),
               joint_rotations=np.zeros((n, F, model.num_joints, 3), np.float32),
               translation=np.zeros((n, F, 3), np.float32), focal=np.zeros(n, np.float32),
               principal_point=np.zeros((n, 2), np.float32))
    t0 = time.time()
    for s in range(n):
        frames, scene = render_sequence(config, model, assets, s)
        p = scene.params
        out["identity"][s] = np.asarray(p.identity[0])
        out["expression"][s], out["joint_rotations"][s] = np.asarray(p.expression), np.asarray(p.joint_rotations)
        out["translation"][s] = np.asarray(p.translation)
        out["focal"][s], out["principal_point"][s] = float(scene.camera.focal), np.asarray(scene.camera.principal_point)
        for f, im in enumerate(frames):
            try:
                det = pipeline.detect(im, pred)[0]
            except pipeline.NoFaceError:
                continue
            out["mu"][s, f], out["sigma"][s, f], out["found"][s, f] = det.mu, det.sigma, True
        if progress:
            print(f"\rdetect: sequence {s + 1}/{n} ({time.time() - t0:.0f} s)", end="", flush=True)
    if progress:
        print()
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, **out)
    tmp.replace(path)
    return out


def true_frames(model, data: dict, s: int, landmark_set: str):
    """(posed face-region vertices (F, V', 3) cm, true landmark projections (F, L, 2) px) of sequence s."""
    import jax
    import jax.numpy as jnp
    from dlm.core import facemodel as fm
    F = data["expression"].shape[1]
    params = fm.FaceParams(jnp.broadcast_to(jnp.asarray(data["identity"][s]), (F, model.num_identity)),
                           jnp.asarray(data["expression"][s]), jnp.asarray(data["joint_rotations"][s]),
                           jnp.asarray(data["translation"][s]))
    cam = fm.Camera(jnp.zeros(3), jnp.zeros(3), jnp.asarray(data["focal"][s]), jnp.asarray(data["principal_point"][s]))
    verts = jax.vmap(lambda p: fm.vertices(model, p))(params)
    lms = jax.vmap(lambda p: fm.project_points(cam, fm.landmark_vertices(model, p, landmark_set)))(params)
    return np.asarray(verts)[:, FACE_REGION], np.asarray(lms)


def jitter_mm(verts: np.ndarray) -> float:
    """Mean |v[t+1] - 2 v[t] + v[t-1]| over vertices and frames, mm (verts (F, V, 3) cm)."""
    acc = verts[2:] - 2.0 * verts[1:-1] + verts[:-2]
    return float(10.0 * np.linalg.norm(acc, axis=-1).mean())


def observations(data: dict, s: int, sigma: str = "predicted"):
    from dlm.fitting import energy as en
    found = data["found"][s]
    sig = data["sigma"][s].copy()
    if sigma == "fixed":
        sig = np.broadcast_to(np.median(sig, axis=1, keepdims=True), sig.shape).copy()
    weight = np.broadcast_to(found[:, None], sig.shape).astype(np.float32)
    return en.Observations(data["mu"][s][:, None], np.maximum(sig, 1e-3)[:, None], weight[:, None])


def fit_sequence(model, data: dict, s: int, config: dict, weights, landmark_set: str, sigma: str = "predicted"):
    """One joint fit of sequence s: (identity (I,), posed face-region vertices (F, V', 3), projections (F, L, 2))."""
    from dlm.fitting import offline
    size = (config["image_size"], config["image_size"])
    res = offline.fit(model, observations(data, s, sigma), size,
                      config=offline.FitConfig(landmark_set=landmark_set, mode="monocular", weights=weights))
    return (np.asarray(res.vars.identity), np.asarray(res.vertices)[:, FACE_REGION],
            np.asarray(res.landmarks_2d)[:, 0])


def fit_per_frame(model, data: dict, s: int, config: dict, landmark_set: str):
    """Each found frame fitted alone: (mean identity, posed vertices (F', V', 3), projections (F', L, 2), frames)."""
    from dlm.fitting import energy as en, offline
    size = (config["image_size"], config["image_size"])
    obs = observations(data, s)
    ids, verts, lms, frames = [], [], [], []
    for f in np.flatnonzero(data["found"][s]):
        o = en.Observations(*(a[f:f + 1] for a in obs))
        res = offline.fit(model, o, size, config=offline.FitConfig(landmark_set=landmark_set, mode="monocular"))
        ids.append(np.asarray(res.vars.identity))
        verts.append(np.asarray(res.vertices)[0, FACE_REGION])
        lms.append(np.asarray(res.landmarks_2d)[0, 0])
        frames.append(f)
    # The neutral mesh is linear in identity: averaging the per-frame meshes is meshing the mean identity.
    return np.mean(ids, 0), np.stack(verts), np.stack(lms), np.array(frames)


def variants(config: dict) -> dict:
    """name -> (EnergyWeights, sigma) of the joint fits."""
    from dlm.fitting import energy as en
    base = en.EnergyWeights(temporal=DEFAULT_TEMPORAL)
    out = {f"joint, temporal {w:g}": (base._replace(temporal=w), "predicted") for w in config["temporal"]}
    out.update({
        "joint, no identity prior": (base._replace(identity=0.0), "predicted"),
        "joint, no expression prior": (base._replace(expression=0.0), "predicted"),
        "joint, no joint prior": (base._replace(joints=0.0), "predicted"),
        "joint, fixed sigma": (base, "fixed"),
    })
    return out


def main(argv=None):
    config, name, started = start(__doc__, get_config, "video_synth", argv, ("sequences", "frames", "model"))[1:]
    from dlm.core import facemodel as fm
    from dlm.landmarks import predictor as lmk
    model = fm.load_face_model()
    landmark_set = lmk.shipped(config["model"]).landmark_set
    data = detect_dataset(config)
    scorer = Scorer(model)
    rows = {"per-frame average": []}
    rows.update({k: [] for k in variants(config)})
    dist = {k: [] for k in rows}
    t0 = time.time()
    for s in range(config["sequences"]):
        if data["found"][s].sum() < 3:
            print(f"sequence {s}: face found in {int(data['found'][s].sum())} frames, left out")
            continue
        true_v, true_lm = true_frames(model, data, s, landmark_set)
        found = data["found"][s]
        t_frames = time.time()
        ident, v, lm, frames = fit_per_frame(model, data, s, config, landmark_set)
        t_joint = time.time()
        runs = {"per-frame average": (ident, v, lm, frames)}
        for k, (w, sig) in variants(config).items():
            i2, v2, lm2 = fit_sequence(model, data, s, config, w, landmark_set, sig)
            runs[k] = (i2, v2[found], lm2[found], np.flatnonzero(found))
        # Jitter over runs of consecutive found frames only (a gap would read as a jump).
        consecutive = np.all(np.diff(np.flatnonzero(found)) == 1)
        for k, (i2, v2, lm2, fr) in runs.items():
            d = scorer(i2, data["identity"][s])
            dist[k].append(d)
            rows[k].append(dict(sequence=s, shape_mean_mm=float(d.mean()),
                                jitter_mm=jitter_mm(v2) if consecutive else None,
                                true_jitter_mm=jitter_mm(true_v[fr]) if consecutive else None,
                                landmark_rms_px=float(np.sqrt(np.mean(np.sum((lm2 - true_lm[fr]) ** 2, -1))))))
        print(f"sequence {s + 1}/{config['sequences']} ({time.time() - t0:.0f} s; per-frame fits "
              f"{t_joint - t_frames:.0f} s, joint fits {time.time() - t_joint:.0f} s): "
              + ", ".join(f"{k} {rows[k][-1]['shape_mean_mm']:.3f}" for k in rows), flush=True)
    results = {}
    for k in rows:
        r = summarise(dist[k])
        r.pop("per_scan_mean_mm", None)
        jit = [x["jitter_mm"] for x in rows[k] if x["jitter_mm"] is not None]
        r.update(jitter_mm=float(np.mean(jit)) if jit else None,
                 true_jitter_mm=float(np.mean([x["true_jitter_mm"] for x in rows[k] if x["true_jitter_mm"] is not None]))
                 if jit else None,
                 landmark_rms_px=float(np.mean([x["landmark_rms_px"] for x in rows[k]])) if rows[k] else None,
                 per_sequence=rows[k])
        results[k] = r
    results["frames_found"] = int(data["found"].sum())
    results["frames_total"] = int(data["found"].size)
    rec = record(name, config, results, RESULTS / f"{name}.json", started)
    fmt = lambda x: None if x is None else round(x, 3)  # noqa: E731
    table = markdown_table(["method", "shape median (mm)", "shape mean (mm)", "jitter (mm/frame^2)",
                            "true jitter", "landmark RMS to truth (px)", "sequences"],
                           [[k, fmt(v["median_mm"]), fmt(v["mean_mm"]), fmt(v["jitter_mm"]), fmt(v["true_jitter_mm"]),
                             fmt(v["landmark_rms_px"]), v["scans"]]
                            for k, v in results.items() if isinstance(v, dict)])
    write_table(name, f"Synthetic MICC-like video benchmark: {config['sequences']} sequences x {config['frames']} "
                f"frames, seed {config['seed']}, model {config['model']}; faces found in {results['frames_found']}/"
                f"{results['frames_total']} frames; default temporal weight {DEFAULT_TEMPORAL} in the ablation rows",
                rec, table)
    plot_cumulative({k: dist[k] for k in ("per-frame average", f"joint, temporal {config['temporal'][0]:g}")},
                    RESULTS / f"{name}.png", f"MICC-like synthetic video ({config['sequences']} x {config['frames']})")
    print(table)


if __name__ == "__main__":
    main()
