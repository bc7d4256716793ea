"""A synthetic NoW-like 3D benchmark: neutral-face error from photos, single- and multi-view.

Reproduce (2-core CPU; the full run about 40 minutes, --quick about 2):
    python experiments/now_synth.py                      # 100 subjects x 4 images, seed 7000
    python experiments/now_synth.py --quick              # 4 subjects x 2 images (CI)

Data: `--subjects` identities drawn from the model's prior, `--images` renders of each
(dlm.synth.render.render_sample with the subject's identity: its own pose up to +-60 degrees of yaw,
expression, lighting, skin, hair, glasses and occluders, background and focal length; no image
augmentation), 256 px, pasted into a 384 px grey canvas so the face does not touch the border.
Ground truth: the subject's neutral-expression mesh (bind pose, no expression).

Pipeline per image: dlm's own region-of-interest search (`dlm.product.pipeline.detect`) and the landmark
CNN (`--model`, default the shipped real-time model), then the offline fit (`dlm.product.pipeline.fit_faces`).
Single view: each image alone (monocular, focal length unknown).  Multi-view: all images of a
subject at once (one identity, a camera per photo).  A mean-face row (identity zero) shows what the
fit adds.

Protocol as NoW (Sanyal et al. 2019): the predicted neutral mesh is aligned to the ground truth
with seven landmark vertices (a similarity), the alignment refined by ICP on scan-to-mesh
distance, then the distance from every ground-truth face-region vertex (ICT's narrow face area,
vertices 0-6705) to the predicted surface; median, mean and std over all points of all scans, mm.
Images whose face was not found are counted and left out (NoW would count a failure).

Detections are cached under experiments/cache/ (keyed by config) so the ablations
(experiments/ablate_fit.py) refit the same landmarks.
"""
from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import numpy as np

from common import RESULTS, markdown_table, record, start, write_table

CACHE = Path(__file__).resolve().parent / "cache"
FACE_REGION = np.arange(0, 6706)


def get_config(quick: bool = False) -> dict:
    return dict(subjects=4 if quick else 100, images=2 if quick else 4, seed=7000, image_size=256, canvas=384,
                max_yaw_deg=60.0, model="realtime")


def _key(config: dict) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:12]


def render_subject(config: dict, model, assets, subject: int):
    """(images (K, canvas, canvas, 3) uint8, identity (I,)) of one subject."""
    import jax
    import jax.numpy as jnp
    from dlm.synth import scenes
    from dlm.synth import render as synth
    key = jax.random.fold_in(jax.random.key(config["seed"]), subject)
    identity = jax.random.normal(jax.random.fold_in(key, 0), (model.num_identity,))
    ranges = scenes.SceneRanges(max_yaw=np.radians(config["max_yaw_deg"]))
    ids = jnp.asarray(model.landmarks["320"])
    render = _renderer(model, assets, config["image_size"], ranges)
    s, c = config["image_size"], config["canvas"]
    o = (c - s) // 2
    images = []
    for j in range(config["images"]):
        b = render(jax.random.fold_in(key, 1 + j), identity, ids)
        canvas = np.full((c, c, 3), 110, np.uint8)
        canvas[o:o + s, o:o + s] = synth.to_uint8(b.image)
        images.append(canvas)
    return np.stack(images), np.asarray(identity)


_RENDER = {}


def _renderer(model, assets, size, ranges):
    import jax
    from dlm.synth import render as synth
    k = (size, ranges)
    if k not in _RENDER:
        _RENDER[k] = jax.jit(lambda key, identity, ids: synth.render_sample(
            key, model, assets, size, ids, ranges, None, identity=identity))
    return _RENDER[k]


def detect_dataset(config: dict, progress: bool = True) -> dict:
    """Detections of every image (cached): mu (N, K, L, 2), sigma (N, K, L), found (N, K),
    identity (N, I), canvas size."""
    path = CACHE / f"now_synth_{_key(config)}.npz"
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
    n, k, L = config["subjects"], config["images"], pred.num_landmarks
    out = dict(mu=np.zeros((n, k, L, 2), np.float32), sigma=np.ones((n, k, L), np.float32),
               found=np.zeros((n, k), bool), identity=np.zeros((n, model.num_identity), np.float32),
               roi=np.zeros((n, k, 4), np.float32))
    t0 = time.time()
    for i in range(n):
        images, identity = render_subject(config, model, assets, i)
        out["identity"][i] = identity
        for j, im in enumerate(images):
            try:
                det = pipeline.detect(im, pred)[0]
            except pipeline.NoFaceError:
                continue
            out["mu"][i, j], out["sigma"][i, j], out["found"][i, j] = det.mu, det.sigma, True
            out["roi"][i, j] = [*det.roi.centre, det.roi.side, det.roi.angle]
        if progress:
            print(f"\rdetect: subject {i + 1}/{n} ({time.time() - t0:.0f} s)", end="", flush=True)
    if progress:
        print()
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, **out)
    tmp.replace(path)
    return out


def neutral_mesh(model, identity) -> np.ndarray:
    import jax.numpy as jnp
    from dlm.core import facemodel as fm
    return np.asarray(fm.bind_pose(model, jnp.asarray(identity), jnp.zeros(model.num_expression)))


class Scorer:
    """NoW distances (mm) of predicted identities against a subject's ground-truth neutral."""

    def __init__(self, model):
        from dlm.eval import metrics3d
        self.model = model
        faces = np.asarray(model.faces)
        part = np.asarray(model.vertex_part)
        # The predicted surface: triangles of the face-and-head part (ICT geometry 0).
        self.faces = faces[(part[faces] == 0).all(1)]
        self.landmarks = np.asarray(model.landmarks["68"])[list(metrics3d.NOW_LANDMARKS_68)]

    def __call__(self, identity, gt_identity) -> np.ndarray:
        from dlm.eval import metrics3d
        pred = neutral_mesh(self.model, identity)
        gt = neutral_mesh(self.model, gt_identity)
        return 10.0 * metrics3d.now_distances(pred, gt, self.faces, FACE_REGION, self.landmarks)


def fit_identities(data: dict, config: dict, fit_config=None, multi_view: bool = False, sigma: str = "predicted",
                   subjects=None, model=None, progress: str | None = None):
    """Fitted identities per image (single view) or per subject (multi-view): a dict
    {(subject, image or -1): identity}.  sigma: "predicted" or "fixed" (every landmark of an image
    gets that image's median predicted sigma: same overall weight, no per-landmark weighting)."""
    from dlm.core import facemodel as fm
    from dlm.landmarks import predictor as lmk
    from dlm.product import pipeline
    from dlm.product import roi as roi_lib
    model = model or fm.load_face_model()
    landmark_set = lmk.shipped(config["model"]).landmark_set
    size = (config["canvas"], config["canvas"])
    subjects = range(config["subjects"]) if subjects is None else subjects
    out = {}
    t0 = time.time()
    for n_done, i in enumerate(subjects):
        dets = []
        for j in range(config["images"]):
            if not data["found"][i, j]:
                continue
            s = data["sigma"][i, j]
            if sigma == "fixed":
                s = np.full_like(s, np.median(s))
            cx, cy, side, angle = data["roi"][i, j]
            dets.append((j, roi_lib.Detection(roi_lib.Roi((float(cx), float(cy)), float(side), float(angle)),
                                              data["mu"][i, j], s, 0.0)))
        if not dets:
            continue
        if multi_view:
            res = pipeline.fit_faces([d for _, d in dets], [size] * len(dets), landmark_set, model,
                                     same_person=True, config=fit_config)
            out[(i, -1)] = np.asarray(res[0].params.identity)
        else:
            for j, d in dets:
                res = pipeline.fit_faces([d], [size], landmark_set, model, config=fit_config)
                out[(i, j)] = np.asarray(res[0].params.identity)
        if progress:
            print(f"\r{progress}: subject {n_done + 1}/{len(subjects)} ({time.time() - t0:.0f} s)", end="", flush=True)
    if progress:
        print()
    return out


def summarise(distances: list) -> dict:
    if not distances:
        return dict(median_mm=None, mean_mm=None, std_mm=None, scans=0)
    a = np.concatenate(distances)
    return dict(median_mm=float(np.median(a)), mean_mm=float(a.mean()), std_mm=float(a.std()), scans=len(distances),
                per_scan_mean_mm=[float(d.mean()) for d in distances])


def score(identities: dict, data: dict, scorer: Scorer) -> dict:
    return summarise([scorer(v, data["identity"][i]) for (i, _), v in sorted(identities.items())])


def plot_cumulative(rows: dict, path: Path, title: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(5, 3.5), dpi=120)
    for name, d in rows.items():
        a = np.sort(np.concatenate(d))
        ax.plot(a, np.linspace(0, 100, len(a)), label=name)
    ax.set_xlabel("scan-to-mesh distance (mm)")
    ax.set_ylabel("% of face points")
    ax.set_xlim(0, 6)
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    tmp = path.with_name(path.stem + ".tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    tmp.replace(path)


def main(argv=None):
    config, name, started = start(__doc__, get_config, "now_synth", argv, ("subjects", "images", "model"))[1:]
    from dlm.core import facemodel as fm
    model = fm.load_face_model()
    data = detect_dataset(config)
    scorer = Scorer(model)
    single = fit_identities(data, config, model=model, progress="fit single view")
    multi = fit_identities(data, config, model=model, multi_view=True, progress="fit multi-view")
    dist = {"single view": [scorer(v, data["identity"][i]) for (i, _), v in sorted(single.items())],
            "multi-view": [scorer(v, data["identity"][i]) for (i, _), v in sorted(multi.items())],
            "mean face": [scorer(np.zeros_like(data["identity"][i]), data["identity"][i])
                          for i in range(config["subjects"])]}
    results = {k: summarise(v) for k, v in dist.items()}
    results["images_found"] = int(data["found"].sum())
    results["images_total"] = int(data["found"].size)
    rec = record(name, config, results, RESULTS / f"{name}.json", started)
    rows = [[k, v["median_mm"], v["mean_mm"], v["std_mm"], v["scans"]] for k, v in results.items() if isinstance(v, dict)]
    table = markdown_table(["method", "median (mm)", "mean (mm)", "std (mm)", "scans"], rows)
    write_table(name, f"Synthetic NoW-like benchmark: {config['subjects']} subjects x {config['images']} images, "
                f"seed {config['seed']}, model {config['model']}; faces found in {results['images_found']}/"
                f"{results['images_total']} images", rec, table)
    plot_cumulative(dist, RESULTS / f"{name}.png", f"NoW-like synthetic ({config['subjects']} x {config['images']})")
    print(table)


if __name__ == "__main__":
    main()
