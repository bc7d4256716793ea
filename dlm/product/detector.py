"""A fast face detector for proposals: YuNet (third_party/yunet) through OpenCV's FaceDetectorYN.

The landmark network stays the judge of what is a face (`dlm.product.roi.search_proposals`
re-frames and scores each box as the sliding-window search does its windows); the detector only
says where to look, in ~10 ms on one core for a 640 x 360 frame where the sliding-window search
runs hundreds of network passes (1.5-2.5 s).
"""
from __future__ import annotations

import functools
import threading

import cv2
import numpy as np

from dlm.io.provenance import REPO_ROOT

YUNET = REPO_ROOT / "third_party" / "yunet" / "yunet_n_640_640.onnx"


class FaceDetector:
    """detector(image) -> (N, 5) float array of face boxes (x, y, w, h in image pixels) and their
    scores, best first.  image: (H, W, 3) uint8 RGB.  Frames larger than `max_side` on their longer
    side are searched on a copy scaled down to it (boxes returned in full-image pixels).
    score_threshold: YuNet's confidence below which a box is dropped (low: the landmark network
    confirms every proposal anyway)."""

    def __init__(self, path=YUNET, score_threshold: float = 0.5, nms_threshold: float = 0.3, max_side: int = 640):
        if not hasattr(cv2, "FaceDetectorYN"):
            raise RuntimeError(f"OpenCV {cv2.__version__} has no FaceDetectorYN (OpenCV >= 4.5.4 has)")
        self.max_side = int(max_side)
        # OpenCV 5's graph engine warns on every detector made ("Targets are not supported by the new
        # graph engine"): about its own default target, nothing a user can act on.
        level = cv2.utils.logging.getLogLevel()
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
        try:
            self._net = cv2.FaceDetectorYN.create(str(path), "", (320, 320), score_threshold, nms_threshold, 50)
        finally:
            cv2.utils.logging.setLogLevel(level)
        self._size = (320, 320)
        self._lock = threading.Lock()    # one OpenCV net, reconfigured per frame size

    def __call__(self, image: np.ndarray) -> np.ndarray:
        h, w = image.shape[:2]
        f = min(1.0, self.max_side / max(h, w))
        small = image if f == 1.0 else cv2.resize(image, (max(1, round(w * f)), max(1, round(h * f))),
                                                   interpolation=cv2.INTER_AREA)
        bgr = np.ascontiguousarray(small[..., ::-1])
        with self._lock:
            size = (bgr.shape[1], bgr.shape[0])
            if size != self._size:
                self._net.setInputSize(size)
                self._size = size
            faces = self._net.detect(bgr)[1]
        if faces is None:
            return np.zeros((0, 5), np.float32)
        out = np.concatenate([faces[:, :4] / f, faces[:, 14:15]], 1).astype(np.float32)
        return out[np.argsort(-out[:, 4])]


@functools.lru_cache(maxsize=1)
def default_detector() -> FaceDetector:
    """The shared YuNet detector (loaded once per process)."""
    return FaceDetector()
