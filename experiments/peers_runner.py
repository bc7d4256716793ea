"""Run a peer landmark detector over images, inside that peer's own virtual environment.

    PEER_VENV/bin/python experiments/peers_runner.py {mediapipe,dlib} LIST.txt OUT.npz
    PEER_VENV/bin/python experiments/peers_runner.py mediapipe_video FRAMES.npy OUT.npz PASSES WARMUP [FPS]

LIST.txt: one image path per line.  OUT.npz: points (N, P, 2) float64 in dlm's pixel convention
(a pixel's centre at i + 0.5), NaN where no face was found; found (N,) bool; seconds (N,) per image.
MediaPipe Face Mesh (static images, one face, 468 points; its own face detector); dlib's HOG
frontal face detector and 68-point shape predictor (face_recognition_models), the largest face.
mediapipe_video: Face Mesh in tracking mode (static_image_mode=False: its detector runs only when
the track is lost) over the RGB frames (T, H, W, 3) uint8, PASSES times from a fresh FaceMesh, the
first WARMUP frames of each pass untimed; OUT.npz: ms (PASSES, T - WARMUP) per process() call, found
(PASSES, T - WARMUP).  Pin the process to one core from outside (taskset, or the caller's affinity).
Imports nothing from dlm: it runs under the peer's interpreter and packages only.
"""
import sys
import time

import cv2
import numpy as np


def mediapipe_detector():
    import mediapipe as mp
    mesh = mp.solutions.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1, refine_landmarks=False,
                                           min_detection_confidence=0.5)

    def run(rgb):
        res = mesh.process(rgb)
        if not res.multi_face_landmarks:
            return None
        h, w = rgb.shape[:2]
        # Normalised image coordinates: x * width is already continuous (centre of pixel i at i + 0.5).
        return np.array([[p.x * w, p.y * h] for p in res.multi_face_landmarks[0].landmark])
    return run, 468


def dlib_detector():
    import dlib
    import face_recognition_models
    detect = dlib.get_frontal_face_detector()
    shape = dlib.shape_predictor(face_recognition_models.pose_predictor_model_location())

    def run(rgb):
        faces = detect(rgb, 1)
        if len(faces) == 0:
            return None
        box = max(faces, key=lambda r: r.width() * r.height())
        s = shape(rgb, box)
        return np.array([[s.part(i).x + 0.5, s.part(i).y + 0.5] for i in range(68)], np.float64)
    return run, 68


def _pacing():
    """dlm/eval/pacing.py, loaded by its path: this runs in the peer's environment, without dlm."""
    import importlib.util
    from pathlib import Path
    path = Path(__file__).resolve().parents[1] / "dlm" / "eval" / "pacing.py"
    spec = importlib.util.spec_from_file_location("dlm_pacing", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def mediapipe_video(frames_path, out, passes, warmup, fps=0.0):
    import mediapipe as mp
    frames = np.load(frames_path)
    ms = np.full((passes, len(frames) - warmup), np.nan)       # nan: dropped (--fps, a frame ran late)
    found = np.zeros((passes, len(frames) - warmup), bool)
    frame_schedule = _pacing().frame_schedule
    for k in range(passes):
        with mp.solutions.face_mesh.FaceMesh(static_image_mode=False, max_num_faces=1, refine_landmarks=False,
                                             min_detection_confidence=0.5, min_tracking_confidence=0.5) as mesh:
            for i, t0 in frame_schedule(len(frames), fps):
                res = mesh.process(frames[i])
                if i >= warmup:
                    ms[k, i - warmup] = (time.perf_counter() - t0) * 1e3
                    found[k, i - warmup] = bool(res.multi_face_landmarks)
    np.savez(out, ms=ms, found=found)


def main():
    if sys.argv[1] == "mediapipe_video":
        return mediapipe_video(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]),
                               float(sys.argv[6]) if len(sys.argv) > 6 else 0.0)
    tool, listing, out = sys.argv[1:4]
    run, n = {"mediapipe": mediapipe_detector, "dlib": dlib_detector}[tool]()
    paths = [line.strip() for line in open(listing) if line.strip()]
    points = np.full((len(paths), n, 2), np.nan)
    found = np.zeros(len(paths), bool)
    seconds = np.zeros(len(paths))
    for i, p in enumerate(paths):
        bgr = cv2.imread(p, cv2.IMREAD_COLOR)
        if bgr is None:
            raise SystemExit(f"{p}: unreadable image")
        rgb = np.ascontiguousarray(bgr[..., ::-1])
        t0 = time.perf_counter()
        pts = run(rgb)
        seconds[i] = time.perf_counter() - t0
        if pts is not None:
            points[i], found[i] = pts, True
    np.savez(out, points=points, found=found, seconds=seconds)


if __name__ == "__main__":
    main()
