"""Multi-view capture as a library call: one identity fitted to every frame of every camera.

    import dlm
    res = dlm.capture(["cam0", "cam1"], calibration="calib.json")   # folders of frames
    dlm.write_capture("out", res)     # per-frame meshes, parameters, overlays, cameras.json

The n-th image (sorted by name) of every camera folder is the same instant.  Without a
calibration the cameras are estimated (camera 0 fixes the world frame).  `dlm capture` is this
function and `write_capture`, with progress lines and exit statuses around them.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import jax
import numpy as np

from dlm.core import facemodel as fm
from dlm.fitting import calibration as calib
from dlm.fitting import energy as en
from dlm.fitting import offline
from dlm.io import images as imageio
from dlm.io.files import write_json, write_obj
from dlm.landmarks import predictor as lmk
from dlm.product import outputs, pipeline

# Default weight of the temporal term for a sequence of frames 320 px on their longer side:
# on experiments/video_synth.py's synthetic clips it halved the jitter of a joint fit (24.2 ->
# 12.8 mm/frame^2) for +0.01 mm of shape error; 10x more over-smooths (jitter 3.5 against the
# truth's 1.6, shape +0.16 mm).
TEMPORAL_PER_320PX = 0.003


class CaptureError(ValueError):
    """The capture cannot be fitted as given (folders, frame counts, calibration, no face)."""


@dataclass
class CaptureResult:
    """The joint fit and what went into it.  F frames, C cameras, L landmarks."""
    fit: offline.FitResult
    mode: str                      # calibrated, uncalibrated or monocular
    cameras: list[Path]            # the C camera folders
    frames: list[list[Path]]       # frames[c][f]: the image of camera c at instant f
    mu: np.ndarray                 # (F, C, L, 2) landmarks, pixels
    sigma: np.ndarray              # (F, C, L) their uncertainty, pixels
    weight: np.ndarray             # (F, C, L) 1 where the view had a face, else 0
    image_sizes: np.ndarray        # (C, 2) width, height
    landmark_set: str
    temporal_per_320px: float
    temporal_weight: float
    fit_seconds: float
    views_skipped: list[dict] = field(default_factory=list)    # {input, error} per view left out
    images: dict = field(default_factory=dict)                  # {(f, c): image} kept for overlays

    def summary(self) -> dict:
        return dict(command="capture", cameras=[str(d) for d in self.cameras], frames=int(self.mu.shape[0]),
                    mode=self.mode, temporal_per_320px=self.temporal_per_320px,
                    temporal_weight=self.temporal_weight, views_with_face=int(self.weight[:, :, 0].sum()),
                    fit_seconds=round(self.fit_seconds, 2), iterations=int(self.fit.iterations),
                    energy=self.fit.energy, landmark_set=self.landmark_set,
                    identity=[float(x) for x in np.asarray(self.fit.vars.identity)],
                    views_skipped=self.views_skipped, failed=[])


def camera_frames(camera_dirs, max_frames: int | None = None) -> list[list[Path]]:
    """The frames of each camera folder, sorted by name, all cut to the same count."""
    dirs = [Path(d) for d in camera_dirs]
    if not dirs:
        raise CaptureError("no camera folders given")
    for d in dirs:
        if not d.is_dir():
            raise CaptureError(f"{d}: not a folder (a capture takes one folder of frames per camera)")
    frames = [imageio.list_images([d]) for d in dirs]
    counts = [len(f) for f in frames]
    if min(counts) == 0:
        raise CaptureError(f"{dirs[counts.index(0)]}: no image files")
    if len(set(counts)) != 1:
        raise CaptureError("camera folders hold different frame counts: "
                           + ", ".join(f"{d}: {c}" for d, c in zip(dirs, counts)))
    n = counts[0] if not max_frames else min(counts[0], max_frames)
    return [f[:n] for f in frames]


def capture(camera_dirs, calibration=None, model: str | lmk.Predictor = "offline",
            face_model: fm.FaceModel | None = None, max_frames: int | None = None,
            min_face: float | None = None, temporal: float | None = None, keep_images: int = 3,
            progress: Callable[[int, int], None] | None = None) -> CaptureResult:
    """Landmarks in every view, then one offline fit of the whole capture.

    camera_dirs: one folder of frames per camera.  calibration: a calibration JSON path
    (dlm.fitting.calibration) or None to estimate the cameras.  temporal: the temporal term's
    weight stated for frames 320 px on their longer side (scaled to the frames' size; default
    TEMPORAL_PER_320PX, 0 for independent frames).  keep_images: frames whose images are kept
    for overlays.  progress(views_done, views_total) is called as landmarks are found.
    A view without a face is left out (listed in views_skipped); no face anywhere, a frame of
    another size than its camera's first or than the calibration says is a CaptureError.
    """
    frames = camera_frames(camera_dirs, max_frames)
    C, F = len(frames), len(frames[0])
    if temporal is not None and not (np.isfinite(temporal) and temporal >= 0):
        raise CaptureError(f"the temporal weight must be a finite number >= 0, got {temporal}")
    cams = sizes_cal = None
    if calibration is not None:
        try:
            cams, sizes_cal, _ = calib.load_calibration(calibration, expected_cameras=C)
        except calib.CalibrationError as e:
            raise CaptureError(str(e)) from None
    pred = pipeline.predictor(model)
    face_model = face_model if face_model is not None else fm.load_face_model()
    L = pred.num_landmarks
    mu = np.zeros((F, C, L, 2), np.float32)
    sigma = np.ones((F, C, L), np.float32)
    weight = np.zeros((F, C, L), np.float32)
    sizes = np.zeros((C, 2))
    skipped, images = [], {}
    for f in range(F):
        for c in range(C):
            if progress is not None:
                progress(f * C + c, F * C)
            path = frames[c][f]
            try:
                img = imageio.read_image(path)
                wh = np.array([img.shape[1], img.shape[0]])
                if f == 0 and sizes[c].sum() == 0:
                    sizes[c] = wh
                    if sizes_cal is not None and not np.allclose(sizes_cal[c], wh):
                        raise CaptureError(f"{path}: image is {wh[0]}x{wh[1]} but the calibration says "
                                           f"{int(sizes_cal[c][0])}x{int(sizes_cal[c][1])} for camera {c}")
                elif not np.allclose(sizes[c], wh):
                    raise imageio.InputError(f"{path}: image is {wh[0]}x{wh[1]}, camera {c}'s first frame was "
                                             f"{int(sizes[c][0])}x{int(sizes[c][1])}")
                det = pipeline.detect(img, pred, 1, min_face)[0]
                mu[f, c], sigma[f, c], weight[f, c] = det.mu, det.sigma, 1.0
                if f < keep_images:
                    images[(f, c)] = img
            except CaptureError:
                raise
            except Exception as e:  # noqa: BLE001 - a view without a face just does not count
                skipped.append(dict(input=str(path), error=imageio.error_text(e)))
    if progress is not None:
        progress(F * C, F * C)
    if (sizes.sum(1) == 0).any():
        raise CaptureError(f"camera {int(np.argmax(sizes.sum(1) == 0))}: its first frame could not be read")
    if weight.sum() == 0:
        raise CaptureError("no face found in any view")
    mode = "calibrated" if cams is not None else ("uncalibrated" if C > 1 else "monocular")
    # The temporal term is in squared pixels (of every landmark in every camera) against a landmark
    # term in sigmas, so one weight means a stiffer prior on larger frames: the weight is stated
    # for frames 320 px on their longer side (where experiments/video_synth.py measured it) and
    # scaled by (320 / side)^2 with camera 0's side.
    per_320 = (TEMPORAL_PER_320PX if temporal is None else float(temporal)) if F > 1 else 0.0
    temporal_weight = per_320 * (320.0 / float(sizes[0].max() or 320.0)) ** 2
    cfg = offline.FitConfig(landmark_set=pred.landmark_set, mode=mode,
                            weights=en.EnergyWeights(temporal=temporal_weight))
    t0 = time.perf_counter()
    res = offline.fit(face_model, en.Observations(mu, sigma, weight), sizes if C > 1 else tuple(sizes[0]),
                      cameras=cams, config=cfg)
    return CaptureResult(res, mode, [Path(d) for d in camera_dirs], frames, mu, sigma, weight, sizes,
                         pred.landmark_set, per_320, temporal_weight, time.perf_counter() - t0, skipped, images)


def write_capture(out, result: CaptureResult, face_model: fm.FaceModel | None = None,
                  mesh_frame: str = "head") -> dict:
    """OUT/frame_NNNNN/ mesh.obj, params.json and overlay_camC.png (for the kept images),
    OUT/cameras.json and OUT/summary.json, each written atomically.  Returns the summary.

    mesh_frame "head": each mesh.obj in the head's own frame, params.json's head_to_world (4 x 4,
    cm) maps it into the calibration's world frame (cameras.json maps that into each camera);
    "world": mesh.obj in the world frame."""
    if mesh_frame not in ("head", "world"):
        raise ValueError(f"mesh_frame must be head or world, got {mesh_frame!r}")
    face_model = face_model if face_model is not None else fm.load_face_model()
    out = Path(out)
    res, C = result.fit, len(result.frames)
    faces = outputs.overlay_faces(face_model)
    for f in range(result.mu.shape[0]):
        params = jax.tree_util.tree_map(lambda a: np.asarray(a[f]), res.params)
        folder = out / f"frame_{f:05d}"
        mesh = np.asarray(res.vertices[f])
        to_world = outputs.head_to_world(params, face_model)
        if mesh_frame == "head":
            written = outputs.to_frame(mesh, to_world)
            header = "dlm capture, cm, the head's own frame (params.json head_to_world places it)"
        else:
            written, header = mesh, "dlm capture, cm, world frame of the calibration"
        write_obj(folder / "mesh.obj", written, np.asarray(face_model.faces), np.asarray(face_model.uvs),
                  np.asarray(face_model.face_uvs), header=header)
        write_json(folder / "params.json", dict(outputs.params_dict(params, face_model), frame=f,
                                                inputs=[str(result.frames[c][f]) for c in range(C)],
                                                views_with_face=int(result.weight[f, :, 0].sum()),
                                                mesh_frame=mesh_frame,
                                                head_to_world=np.round(to_world, 6).tolist()))
        for c in range(C):
            if (f, c) in result.images:
                cam = jax.tree_util.tree_map(lambda a: np.asarray(a[c]), res.cameras)
                imageio.write_image(folder / f"overlay_cam{c}.png",
                                    outputs.draw_overlay(result.images[(f, c)], mesh, cam, faces,
                                                         result.mu[f, c], result.sigma[f, c]))
    calib.save_calibration(out / "cameras.json", res.cameras, result.image_sizes, [d.name for d in result.cameras])
    summary = result.summary()
    write_json(out / "summary.json", summary)
    return summary
