"""Photo files to reconstruction files, as a library call: what `dlm reconstruct` does.

    import dlm
    summary = dlm.reconstruct_photos(["me.jpg", "holiday/"], "out")
    summary["succeeded"], summary["failed"], summary["low_quality"]

Each input gets OUT/<name>/ mesh.obj, params.json, landmarks.json and overlay.png (name: the file
stem, numbered where stems repeat; OUT/<name>/face_<k>/ with max_faces > 1), written atomically.
A file that cannot be read or shows no face fails alone; the rest are still done.
"""
from __future__ import annotations

import time
import traceback
from pathlib import Path
from typing import Callable

from dlm.core import facemodel as fm
from dlm.io import images as imageio
from dlm.landmarks import predictor as lmk
from dlm.product import outputs, pipeline


def reconstruct_photos(paths, out, model: str | lmk.Predictor = "offline", face_model: fm.FaceModel | None = None,
                       max_faces: int = 1, same_person: bool = False, min_face: float | None = None,
                       min_quality: float = 0.0, debug: bool = False, mesh_frame: str = "head",
                       progress: Callable[[int, int, str], None] | None = None) -> dict:
    """Reconstruct every image of `paths` into OUT (see the module's docstring).

    same_person: one identity fitted to all the images (one face each).  min_quality: faces whose
    quality (the calibrated probability that the face found is the right one) is under it are
    listed in the summary's low_quality (0: none are).  progress(i, n, stage) is called before
    each input, once at the end (i == n), and with stage "fitting" before a same-person fit of n
    images; debug prints the traceback of a failed input.  mesh_frame: "head" (mesh.obj in the
    head's own frame, params.json's head_to_camera places it) or "camera".
    Returns the summary (what OUT/summary.json holds for `dlm reconstruct`)."""
    paths = [Path(p) for p in paths]
    pred = pipeline.predictor(model)
    face_model = face_model if face_model is not None else fm.load_face_model()
    out = Path(out)
    names = outputs.unique_names(paths)
    failed, done, low = [], [], []
    t_start = time.perf_counter()
    say = progress or (lambda i, n, stage: None)

    def check_quality(path, k, res):
        if min_quality and res.quality is not None and res.quality < min_quality:
            low.append(dict(input=str(path), face=k, quality=round(res.quality, 4)))

    def load(i):
        try:
            return imageio.read_image(paths[i])
        except imageio.InputError as e:
            failed.append(dict(input=str(paths[i]), error=str(e)))
            return None

    def readable(stage):
        """(index, image) of each input that can be read, reporting progress before each."""
        for i in range(len(paths)):
            say(i, len(paths), stage)
            img = load(i)
            if img is not None:
                yield i, img

    if same_person:
        images, dets, kept = [], [], []
        for i, img in readable("detecting"):
            try:
                dets.append(pipeline.detect(img, pred, 1, min_face)[0])
            except Exception as e:  # noqa: BLE001 - reported per input
                failed.append(dict(input=str(paths[i]), error=imageio.error_text(e)))
                continue
            images.append(img)
            kept.append(i)
        say(len(paths), len(paths), "detecting")
        if kept:
            say(len(kept), len(kept), "fitting")
            results = pipeline.fit_faces(dets, [(im.shape[1], im.shape[0]) for im in images], pred.landmark_set,
                                         face_model, same_person=True)
            for i, img, res in zip(kept, images, pipeline.with_model_calibrations(results, pred)):
                check_quality(paths[i], 0, res)
                files = outputs.write_face(out / names[i], img, res, face_model,
                                           extra=dict(input=str(paths[i]), same_person=True),
                                           mesh_frame=mesh_frame)
                done.append(dict(input=str(paths[i]), output=str(out / names[i]), faces=1, files=files,
                                 score=float(res.score), quality=res.quality))
    else:
        for i, img in readable("reconstructing"):
            try:
                t0 = time.perf_counter()
                results = pipeline.reconstruct_faces(img, pred, max_faces, face_model, min_face=min_face)
                folders = []
                for k, res in enumerate(results):
                    folder = out / names[i] if max_faces == 1 else out / names[i] / f"face_{k}"
                    outputs.write_face(folder, img, res, face_model, extra=dict(input=str(paths[i]), face=k),
                                       mesh_frame=mesh_frame)
                    folders.append(str(folder))
                    check_quality(paths[i], k, res)
                done.append(dict(input=str(paths[i]), outputs=folders, faces=len(results),
                                 scores=[float(r.score) for r in results], qualities=[r.quality for r in results],
                                 seconds=round(time.perf_counter() - t0, 3)))
            except Exception as e:  # noqa: BLE001 - a batch continues past a bad file
                if debug:
                    traceback.print_exc()
                failed.append(dict(input=str(paths[i]), error=imageio.error_text(e)))
        say(len(paths), len(paths), "reconstructing")
    return dict(command="reconstruct", model=pred.manifest.get("config", {}), landmark_set=pred.landmark_set,
                same_person=bool(same_person), num_inputs=len(paths), succeeded=done, failed=failed,
                min_quality=min_quality, low_quality=low, seconds=round(time.perf_counter() - t_start, 3))
