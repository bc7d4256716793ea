"""What dlm writes for people: meshes, parameters, landmarks, overlays, tracks (the last stage).

Every file is written to a temporary name and renamed (`dlm.io.files.atomic_path`), so an interrupted
command never leaves a half-written file under its final name.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import jax.numpy as jnp
import numpy as np

from dlm.core import facemodel as fm
from dlm.core import geometry
from dlm.io import gltf, livelink
from dlm.io.files import atomic_path, write_json, write_obj
from dlm.io.images import write_image
from dlm.product import viz

COORDINATES = ("pixels: x right, y down, the top-left pixel's centre at (0.5, 0.5); mesh: cm, "
               "camera looks along -z from the origin (x right, y up); rotations: axis-angle radians")
OVERLAY_PARTS = ("face", "head_neck", "eyeball_left", "eyeball_right")
# mesh.obj's frame: "head" (the model's own frame: the root joint, the neck, unrotated and
# untranslated; the head, jaw and eyes posed; params.json's head_to_camera places it) or "camera".
MESH_FRAMES = ("head", "camera")


def _f(a):
    return [float(x) for x in np.asarray(a).reshape(-1)]


def unique_names(paths) -> list[str]:
    """Output folder names for input files: the file stem, with a counter where stems repeat."""
    seen, out = {}, []
    for p in paths:
        stem = Path(p).stem or "image"
        n = seen.get(stem, 0)
        seen[stem] = n + 1
        out.append(stem if n == 0 else f"{stem}_{n}")
    return out


def camera_dict(camera: fm.Camera, image_size) -> dict:
    return dict(focal_px=float(np.asarray(camera.focal)), principal_point_px=_f(camera.principal_point),
                rotation=_f(camera.rotation), translation_cm=_f(camera.translation),
                image_size=[int(image_size[0]), int(image_size[1])])


def _rotation_matrix(rotvec) -> np.ndarray:
    return cv2.Rodrigues(np.asarray(rotvec, np.float64).reshape(3, 1))[0]


def head_to_world(params: fm.FaceParams, model: fm.FaceModel) -> np.ndarray:
    """(4, 4) rigid transform from the head's own frame to the posed (world) frame, cm.

    The neck is the root of the joint chain, so its rotation R (about the bind-pose neck joint j)
    and the translation t move every skinned vertex rigidly: posed = R (x - j) + j + t, where x is
    the mesh posed with the root unrotated and untranslated.  Numpy, one face (no batch axes)."""
    rots = np.asarray(params.joint_rotations, np.float64)
    ident = np.asarray(params.identity, np.float64)
    j = np.asarray(model.joint_template, np.float64)[0] + np.asarray(model.joint_identity, np.float64)[0] @ ident
    rot = _rotation_matrix(rots[0])
    out = np.eye(4)
    out[:3, :3] = rot
    out[:3, 3] = j + np.asarray(params.translation, np.float64) - rot @ j
    return out


def camera_matrix(camera: fm.Camera) -> np.ndarray:
    """(4, 4) world-to-camera transform of `camera` (x_cam = R x + t), cm."""
    out = np.eye(4)
    out[:3, :3] = _rotation_matrix(camera.rotation)
    out[:3, 3] = np.asarray(camera.translation, np.float64)
    return out


def to_frame(vertices: np.ndarray, frame_to_world: np.ndarray) -> np.ndarray:
    """World-frame points (N, 3) expressed in the frame that `frame_to_world` (4, 4, rigid) maps
    to the world: R^T (v - t)."""
    rot, t = frame_to_world[:3, :3], frame_to_world[:3, 3]
    return (np.asarray(vertices, np.float64) - t) @ rot


def params_dict(params: fm.FaceParams, model: fm.FaceModel) -> dict:
    """Named parameters: identity coefficients, ARKit expression weights, joint rotations."""
    expr = np.asarray(params.expression)
    rots = np.asarray(params.joint_rotations)
    return dict(identity=_f(params.identity),
                expression={n: float(w) for n, w in zip(model.expression_names, expr)},
                joint_rotations={n: _f(r) for n, r in zip(model.joint_names, rots)},
                translation_cm=_f(params.translation))


def face_json(result, model: fm.FaceModel, extra: dict | None = None) -> dict:
    r = result.roi
    return dict(params_dict(result.params, model), camera=camera_dict(result.camera, result.image_size),
                roi=dict(centre_px=_f(r.centre), side_px=float(r.side), angle_rad=float(r.angle),
                         score=float(r.score)),
                quality=None if getattr(result, "quality", None) is None else round(float(result.quality), 4),
                energy={k: float(v) for k, v in result.energy.items()},
                landmark_set=result.landmark_set, coordinates=COORDINATES, **(extra or {}))


def landmarks_json(result) -> dict:
    out = dict(landmark_set=result.landmark_set, image_size=list(result.image_size), coordinates=COORDINATES,
               mu=np.round(np.asarray(result.landmarks, np.float64), 3).tolist(),
               sigma=np.round(np.asarray(result.sigma, np.float64), 4).tolist(),
               fitted=np.round(np.asarray(result.fitted_landmarks, np.float64), 3).tolist())
    if getattr(result, "landmarks_68", None) is not None:    # the model's label translation (photos)
        out["aflw2000_68"] = np.round(np.asarray(result.landmarks_68, np.float64), 3).tolist()
    return out


def overlay_faces(model: fm.FaceModel) -> np.ndarray:
    part = np.asarray(model.vertex_part)
    keep = np.isin(np.asarray(model.part_names)[part], OVERLAY_PARTS)
    faces = np.asarray(model.faces)
    return faces[keep[faces].all(1)]


def draw_overlay(image: np.ndarray, vertices: np.ndarray, camera: fm.Camera, faces: np.ndarray,
                 landmarks: np.ndarray | None = None, sigma: np.ndarray | None = None,
                 mesh_alpha: float = 0.5) -> np.ndarray:
    """RGB picture: the fitted mesh (shaded, semi-transparent) and the landmarks coloured by sigma
    from green (certain) to red (uncertain), as in the paper's Fig. 5."""
    # numpy (geometry.project stays numpy on numpy arrays): eager JAX here compiled per call (a second per frame).
    rot = cv2.Rodrigues(np.asarray(camera.rotation, np.float64).reshape(3, 1))[0]
    cam = np.asarray(vertices, np.float64) @ rot.T + np.asarray(camera.translation, np.float64)
    f, pp = float(np.asarray(camera.focal)), np.asarray(camera.principal_point, np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        px = geometry.project(cam, f, pp)
    bgr = np.ascontiguousarray(image[..., ::-1])
    nz = viz.face_normals_towards_camera(cam, faces)
    out = viz.draw_mesh(bgr, px, -cam[:, 2], faces, np.full((len(faces), 3), (200.0, 190.0, 180.0)), nz,
                        alpha=mesh_alpha)
    if landmarks is not None:
        colors = viz.sigma_color(sigma) if sigma is not None else (0, 255, 0)
        extent = np.max(np.ptp(np.asarray(landmarks), axis=0)) if len(landmarks) else 100.0
        r = int(np.clip(extent / 120.0, 1, 6))   # dots scale with the face, not the photo
        out = viz.draw_points(out, landmarks, colors, radius=r)
    return np.ascontiguousarray(out[..., ::-1])


def write_face(out_dir, image: np.ndarray, result, model: fm.FaceModel, extra: dict | None = None,
               faces_for_overlay: np.ndarray | None = None, mesh_frame: str = "head") -> list[str]:
    """mesh.obj (with UVs), params.json, landmarks.json, overlay.png in out_dir; returns the names.

    mesh_frame "head": mesh.obj in the head's own frame and params.json's head_to_camera (4 x 4,
    cm) maps it onto the photo's camera frame; "camera": mesh.obj in the camera frame."""
    if mesh_frame not in MESH_FRAMES:
        raise ValueError(f"mesh_frame must be one of {MESH_FRAMES}, got {mesh_frame!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    # For one photo the fit's world frame is the camera frame up to the camera's own extrinsics.
    to_world, world_to_camera = head_to_world(result.params, model), camera_matrix(result.camera)
    head_to_camera = world_to_camera @ to_world
    if mesh_frame == "head":
        mesh = to_frame(result.vertices, to_world)
        header = "dlm fitted mesh, cm, the head's own frame (params.json head_to_camera places it)"
    else:
        mesh = np.asarray(result.vertices, np.float64) @ world_to_camera[:3, :3].T + world_to_camera[:3, 3]
        header = "dlm fitted mesh, cm, camera frame"
    write_obj(out / "mesh.obj", mesh, np.asarray(model.faces), np.asarray(model.uvs),
              np.asarray(model.face_uvs), header=header + "\n" + COORDINATES)
    write_json(out / "params.json", dict(face_json(result, model, extra), mesh_frame=mesh_frame,
                                         head_to_camera=np.round(head_to_camera, 6).tolist()))
    write_json(out / "landmarks.json", landmarks_json(result))
    faces = overlay_faces(model) if faces_for_overlay is None else faces_for_overlay
    write_image(out / "overlay.png", draw_overlay(image, result.vertices, result.camera, faces, result.landmarks,
                                                  result.sigma))
    return ["mesh.obj", "params.json", "landmarks.json", "overlay.png"]


class TrackWriter:
    """Streams a track to temporary files and renames them into place on `close()`:
    frames.jsonl, blendshapes.csv, overlay.mp4 (if `video`), head.glb, summary.json."""

    def __init__(self, out_dir, model: fm.FaceModel, fps: float, size, video: bool = True):
        self.out = Path(out_dir)
        self.out.mkdir(parents=True, exist_ok=True)
        self.model, self.fps, self.size = model, fps, (int(size[0]), int(size[1]))
        self._ctx, self._tmp = {}, {}
        for name in ("frames.jsonl", "blendshapes.csv") + (("overlay.mp4",) if video else ()):
            ctx = atomic_path(self.out / name)
            self._ctx[name], self._tmp[name] = ctx, ctx.__enter__()
        self.jsonl = open(self._tmp["frames.jsonl"], "w")
        self.csv_file = open(self._tmp["blendshapes.csv"], "w", newline="")
        self.csv = csv.writer(self.csv_file)
        # Live Link Face's layout (dlm.io.livelink): ARKit's 52 weights and 9 rotations per
        # tracked frame; frames without a face have no row (their time is absent from Timecode).
        self.csv.writerow(livelink.HEADER)
        self.to_arkit = livelink.arkit_matrix(model.expression_names)
        self.video = None
        if video:
            self.video = cv2.VideoWriter(self._tmp["overlay.mp4"], cv2.VideoWriter_fourcc(*"mp4v"), fps, self.size)
            if not self.video.isOpened():
                raise OSError(f"{self.out / 'overlay.mp4'}: OpenCV cannot write mp4v video here")
        self.faces = overlay_faces(model)
        self.anim = []   # (time, expression, joint_rotations, translation, identity)

    def add(self, frame_rgb: np.ndarray, tf) -> None:
        t = tf.index / self.fps
        rec = dict(frame=tf.index, time_s=round(t, 4), found=bool(tf.found), searched=bool(tf.searched),
                   timings_ms={k: round(v, 3) for k, v in tf.timings_ms.items()})
        if tf.found:
            p = tf.fit.params
            rec.update(params_dict(p, self.model), camera=camera_dict(tf.fit.camera, self.size),
                       roi_score=float(tf.roi.score), reinitialised=bool(tf.fit.reinitialised), start=tf.fit.start,
                       quality=None if tf.quality is None else round(float(tf.quality), 4),
                       landmarks=np.round(np.asarray(tf.landmarks, np.float64), 2).tolist(),
                       sigma=np.round(np.asarray(tf.sigma, np.float64), 3).tolist())
            self.csv.writerow(livelink.row(t, self.fps, self.to_arkit @ np.asarray(p.expression, np.float64),
                                           livelink.rotations(np.asarray(tf.fit.camera.rotation),
                                                              np.asarray(p.joint_rotations))))
            self.anim.append((t, np.asarray(p.expression), np.asarray(p.joint_rotations), np.asarray(p.translation),
                              np.asarray(p.identity)))
        self.jsonl.write(json.dumps(rec) + "\n")
        if self.video is not None:
            if tf.found:
                img = draw_overlay(frame_rgb, tf.fit.vertices, tf.fit.camera, self.faces, tf.landmarks, tf.sigma)
            else:
                img = frame_rgb
            self.video.write(np.ascontiguousarray(img[..., ::-1]))

    def close(self, summary: dict) -> None:
        """Finish every file and rename it into place (the glTF only if a face was tracked)."""
        self.jsonl.close()
        self.csv_file.close()
        if self.video is not None:
            self.video.release()
        for name, ctx in self._ctx.items():
            ctx.__exit__(None, None, None)
        if self.anim:
            write_glb(self.out / "head.glb", self.model, self.anim)
        write_json(self.out / "summary.json", summary)

    def abort(self) -> None:
        """Remove the temporary files (nothing is renamed into place)."""
        for f in (self.jsonl, self.csv_file):
            f.close()
        if self.video is not None:
            self.video.release()
        for ctx in self._ctx.values():
            try:
                ctx.__exit__(RuntimeError, RuntimeError("aborted"), None)
            except RuntimeError:
                pass


def write_glb(path, model: fm.FaceModel, anim) -> None:
    """Animated glTF of the tracked head: the last identity's neutral mesh, the 55 expressions as
    morph targets, per-frame weights, joint rotations and translation."""
    times = np.array([a[0] for a in anim], np.float32)
    identity = jnp.asarray(anim[-1][4])
    neutral = np.asarray(fm.bind_pose(model, identity, jnp.zeros(model.num_expression)))
    joints = np.asarray(fm.joint_locations(model, identity))
    blob = gltf.build_glb(neutral, np.asarray(model.faces), np.asarray(model.expression_basis),
                          model.expression_names, joints, model.joint_names, model.joint_parents,
                          np.asarray(model.skinning_weights), times - times[0],
                          np.stack([a[1] for a in anim]), np.stack([a[2] for a in anim]),
                          np.stack([a[3] for a in anim]))
    with atomic_path(path) as tmp:
        Path(tmp).write_bytes(blob)
