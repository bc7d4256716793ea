"""Reading what users give dlm: photos, videos and webcams, with clear errors for bad input.

Everything returned is uint8 RGB (H, W, 3).  Grayscale is replicated to three channels, an alpha
channel is dropped (composited over nothing: faces are opaque), 16-bit images are scaled to 8 bits.
A file that OpenCV cannot decode, a truncated JPEG or PNG (OpenCV would otherwise hand back a
partly grey image with only a warning on stderr), an empty file or a folder all raise `InputError`
with the file name and the problem.
"""
from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from dlm.io.files import atomic_path

MAX_SIDE = 16384          # the 8k with room; beyond this a photo is almost surely a mistake
MIN_SIDE = 16


class InputError(ValueError):
    """Bad user input (file, shape, value); the message names it."""


def error_text(e: Exception) -> str:
    """One line for an input that failed: an InputError's own message (it names the file), else
    the exception's type and message."""
    return str(e) if isinstance(e, InputError) else f"{type(e).__name__}: {e}"


def _check_complete(path: Path, data: bytes) -> None:
    """JPEG must end with the EOI marker and PNG with the IEND chunk (a few trailing bytes of
    padding are tolerated); a truncated download fails here instead of decoding half an image."""
    if data[:3] == b"\xff\xd8\xff":
        if b"\xff\xd9" not in data[-64:]:
            raise InputError(f"{path}: truncated JPEG (no end-of-image marker)")
    elif data[:8] == b"\x89PNG\r\n\x1a\n":
        if b"IEND" not in data[-64:]:
            raise InputError(f"{path}: truncated PNG (no IEND chunk)")


def to_rgb8(image: np.ndarray, name: str = "image") -> np.ndarray:
    """Any OpenCV-decoded array (gray, BGR, BGRA; uint8, uint16 or float) as uint8 RGB."""
    a = np.asarray(image)
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3 or a.shape[2] not in (1, 3, 4):
        raise InputError(f"{name}: expected a gray, colour or colour+alpha image, got shape {a.shape}")
    if a.dtype == np.uint16:
        a = (a.astype(np.uint32) * 255 + 32767) // 65535
    elif a.dtype.kind == "f":
        if not np.isfinite(a).all():
            raise InputError(f"{name}: image holds NaN or infinite values")
        a = np.clip(a * 255.0 + 0.5, 0, 255) if a.max() <= 1.0 else np.clip(a + 0.5, 0, 255)
    elif a.dtype != np.uint8:
        raise InputError(f"{name}: unsupported pixel type {a.dtype}")
    a = a.astype(np.uint8)
    if a.shape[2] == 1:
        return np.repeat(a, 3, axis=2)
    a = a[..., :3]
    return np.ascontiguousarray(cv2.cvtColor(a, cv2.COLOR_BGR2RGB))


def read_image(path) -> np.ndarray:
    """A photo as uint8 RGB (H, W, 3); `InputError` naming the file if it cannot be used."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a folder, not an image")
    data = path.read_bytes()
    if not data:
        raise InputError(f"{path}: empty file")
    _check_complete(path, data)
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED | cv2.IMREAD_IGNORE_ORIENTATION)
    if img is None:
        raise InputError(f"{path}: not an image OpenCV can decode ({len(data)} bytes)")
    h, w = img.shape[:2]
    if min(h, w) < MIN_SIDE:
        raise InputError(f"{path}: image is {w}x{h} pixels, too small for a face (at least {MIN_SIDE})")
    if max(h, w) > MAX_SIDE:
        raise InputError(f"{path}: image is {w}x{h} pixels, larger than {MAX_SIDE} on a side")
    return to_rgb8(img, str(path))


def write_image(path, rgb: np.ndarray) -> None:
    """PNG or JPEG by suffix, atomically."""
    ok, buf = cv2.imencode(Path(path).suffix or ".png", cv2.cvtColor(np.asarray(rgb, np.uint8), cv2.COLOR_RGB2BGR))
    if not ok:
        raise InputError(f"{path}: OpenCV could not encode the image")
    with atomic_path(path) as tmp:
        Path(tmp).write_bytes(buf.tobytes())


def quiet_opencv() -> None:
    """Silence OpenCV's and FFmpeg's own log lines (a missing webcam gave ~8 lines of V4L2 and
    FFmpeg warnings, a text file named .mp4 FFmpeg's "moov atom not found") before dlm's one line
    says what is wrong.  Left alone when the user has set OPENCV_FFMPEG_LOGLEVEL / OPENCV_LOG_LEVEL."""
    # FFmpeg's own level: OPENCV_FFMPEG_LOGLEVEL, set when `dlm` is imported (see dlm/__init__.py).
    if "OPENCV_LOG_LEVEL" not in os.environ:
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)


class VideoReader:
    """Frames of a video file or a webcam as uint8 RGB; iterate, then read `frames_read`.

    A file with no decodable frame raises `InputError` when opened.  A file whose stream ends
    before the frame count in its header stops early; `ended_early` says so afterwards."""

    def __init__(self, source, max_frames: int | None = None):
        self.is_webcam = isinstance(source, int)
        self.name = f"webcam {source}" if self.is_webcam else str(source)
        if not self.is_webcam:
            p = Path(source)
            if not p.exists():
                raise InputError(f"{p}: no such file")
            if p.is_dir():
                raise InputError(f"{p}: is a folder, not a video")
            if p.stat().st_size == 0:
                raise InputError(f"{p}: empty file")
        quiet_opencv()
        self.cap = cv2.VideoCapture(source)
        if not self.cap.isOpened():
            raise InputError(f"{self.name}: cannot be opened" + (" (no such camera?)" if self.is_webcam
                                                                   else " as a video"))
        ok, first = self.cap.read()
        if not ok or first is None:
            self.cap.release()
            raise InputError(f"{self.name}: no frame could be decoded")
        self._first = first
        fps = float(self.cap.get(cv2.CAP_PROP_FPS) or 0.0)
        self.fps = fps if 1.0 <= fps <= 1000.0 else 30.0
        n = int(self.cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        self.header_frames = n if n > 0 and not self.is_webcam else None
        self.height, self.width = first.shape[:2]
        self.max_frames = max_frames
        self.frames_read = 0

    def __iter__(self):
        frame = self._first
        self._first = None
        try:
            while frame is not None:
                if self.max_frames is not None and self.frames_read >= self.max_frames:
                    break
                yield to_rgb8(frame, self.name)
                self.frames_read += 1
                ok, frame = self.cap.read()
                if not ok:
                    frame = None
        finally:
            self.cap.release()

    @property
    def ended_early(self) -> bool:
        if self.header_frames is None:
            return False
        expected = self.header_frames if self.max_frames is None else min(self.header_frames, self.max_frames)
        return self.frames_read < expected


def list_images(inputs) -> list[Path]:
    """Files from paths and folders (a folder gives its image files, sorted)."""
    exts = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".jp2", ".pgm", ".ppm"}
    out = []
    for item in inputs:
        p = Path(os.fspath(item))
        if p.is_dir():
            out += sorted(q for q in p.iterdir() if q.suffix.lower() in exts)
        else:
            out.append(p)
    return out
