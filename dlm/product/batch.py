"""Many photos as a library call: landmarks per image, fits in padded batches, the files of
`dlm reconstruct` per input, resumable.

    import dlm
    summary = dlm.reconstruct_batch(sorted(Path("photos").glob("*.jpg")), "out")

Images are decoded on host threads while the previous chunk is fitted; fits run in batches
(`dlm.fitting.batch.fit_batch`, sharded over the devices there are).  An input whose files are
all in OUT already is skipped, so a rerun finishes an interrupted batch.  `dlm batch` is this
function with progress lines and exit statuses around it.
"""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

import jax
import numpy as np

from dlm.core import facemodel as fm
from dlm.fitting import batch as fb
from dlm.io import images as imageio
from dlm.landmarks import predictor as lmk
from dlm.product import outputs, pipeline

FACE_FILES = ("landmarks.json", "mesh.obj", "overlay.png", "params.json")


def reconstruct_batch(paths, out, model: str | lmk.Predictor = "offline", face_model: fm.FaceModel | None = None,
                      fitter: str = "offline", batch_size: int = 64, workers: int = 4,
                      min_face: float | None = None, mesh_frame: str = "head",
                      progress: Callable[[int, int, int], None] | None = None) -> dict:
    """Reconstruct every image of `paths` into OUT/<name>/ (name: the file stem, numbered where
    stems repeat).  fitter: "offline" (identity, expression, pose) or "realtime" (pose and
    expression, mean identity).  progress(done, total, failed) is called after each image's landmarks.
    Returns the summary: succeeded inputs (with those an earlier run finished, marked resumed),
    failed inputs ({input, error}), the count already done, rates.
    A file that cannot be read or shows no face fails alone; the rest are still done."""
    if batch_size < 1 or workers < 1:
        raise ValueError(f"batch_size and workers must be >= 1, got {batch_size} and {workers}")
    paths = [Path(p) for p in paths]
    pred = pipeline.predictor(model)
    face_model = face_model if face_model is not None else fm.load_face_model()
    out = Path(out)
    names = outputs.unique_names(paths)
    todo = [i for i in range(len(paths)) if not all((out / names[i] / f).exists() for f in FACE_FILES)]
    failed = []
    # Inputs finished by an earlier run are listed too: after a resume the summary describes the
    # whole output folder, not just this run's share of it.
    done = [dict(input=str(paths[i]), output=str(out / names[i]), resumed=True)
            for i in sorted(set(range(len(paths))) - set(todo))]
    posed = jax.jit(jax.vmap(lambda p: fm.vertices(face_model, p)))
    t_start = time.perf_counter()

    def load(i):
        try:
            return i, imageio.read_image(paths[i]), None
        except imageio.InputError as e:
            return i, None, str(e)

    chunks = [todo[k:k + batch_size] for k in range(0, len(todo), batch_size)]
    n_done = 0
    with ThreadPoolExecutor(workers) as pool:
        next_chunk = pool.map(load, chunks[0]) if chunks else None
        for c, chunk in enumerate(chunks):
            loaded = list(next_chunk)
            if c + 1 < len(chunks):          # decode the next chunk while this one is processed
                next_chunk = pool.map(load, chunks[c + 1])
            items = []
            for k, (i, img, err) in enumerate(loaded):
                if err:
                    failed.append(dict(input=str(paths[i]), error=err))
                else:
                    try:
                        items.append((i, img, pipeline.detect(img, pred, 1, min_face)[0]))
                    except Exception as e:  # noqa: BLE001 - reported per input
                        failed.append(dict(input=str(paths[i]), error=imageio.error_text(e)))
                if progress is not None:   # per image: a chunk of 64 takes minutes
                    progress(n_done + k + 1, len(todo), len(failed))
            if items:
                _fit_and_write(items, pred, face_model, fitter, posed, paths, names, out, done, mesh_frame)
            n_done += len(chunk)
    wall = time.perf_counter() - t_start
    return dict(command="batch", num_inputs=len(paths), already_done=len(paths) - len(todo), processed=len(todo),
                succeeded=done, failed=failed, fitter=fitter, batch_size=batch_size,
                wall_s=round(wall, 3), images_per_s=round(len(todo) / max(wall, 1e-9), 3),
                devices=[str(d) for d in jax.devices()], landmark_set=pred.landmark_set)


def _fit_and_write(items, pred, face_model, fitter, posed, paths, names, out, done, mesh_frame="head"):
    """One padded batch fit of the chunk's detections, then each face's files."""
    res = fb.fit_batch(face_model, np.stack([d.mu for _, _, d in items]), np.stack([d.sigma for _, _, d in items]),
                       np.array([(im.shape[1], im.shape[0]) for _, im, _ in items], np.float32),
                       fitter=fitter, landmark_set=pred.landmark_set)
    verts = np.asarray(posed(res.params))
    for k, (i, img, det) in enumerate(items):
        p = jax.tree_util.tree_map(lambda a: a[k], res.params)
        cam = fm.Camera(np.zeros(3, np.float32), np.zeros(3, np.float32), np.float32(res.focal[k]),
                        res.principal_point[k])
        fr = pipeline.FaceResult((img.shape[1], img.shape[0]), det.roi, pred.landmark_set, det.mu, det.sigma,
                                 p, cam, res.landmarks_2d[k], {"landmarks": float(res.landmark_energy[k])}, verts[k])
        outputs.write_face(out / names[i], img, fr, face_model, extra=dict(input=str(paths[i]), fitter=fitter),
                           mesh_frame=mesh_frame)
        done.append(dict(input=str(paths[i]), output=str(out / names[i]), score=float(det.score)))
