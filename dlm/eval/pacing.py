"""Frames as a camera delivers them, for timing a tracker live (`dlm bench realtime --fps`).

Standard library only: experiments/peers_runner.py loads this file by path inside a peer's own
virtual environment (MediaPipe's), which has no jax and no dlm, so both sides pace frames alike.
"""
from __future__ import annotations

import time


def frame_schedule(n: int, fps: float):
    """Yields (i, t0): the next of n frames to process and when its time starts.  fps 0: every
    frame, back to back, t0 = now.  fps > 0: frame i arrives at i / fps after the first, as from a
    camera: an early frame is waited for (t0 = when it came); when frames have arrived during the
    previous one, the newest is processed and the older ones dropped, as a live camera does, and
    its time starts at its arrival (the wait behind the previous frame counts)."""
    start = time.perf_counter()
    i = 0
    while i < n:
        now = time.perf_counter()
        if fps <= 0:
            yield i, now
        elif now < start + i / fps:
            time.sleep(start + i / fps - now)
            yield i, time.perf_counter()
        else:
            i = min(max(i, int((now - start) * fps)), n - 1)
            yield i, start + i / fps
        i += 1
