"""One background thread that prepares the next batches of a stream while the caller trains.

    for batch in prefetched(lambda j: make_batch(j), prefetch=2):   # batch j = make_batch(j), in order
        ...

Batch 0 is made on the calling thread, so every program it needs compiles there and the
background thread only runs compiled code (compilations racing on threads aborted XLA:CPU).
One thread, not a pool: the synthetic-render stream once used two render threads, and that
stream aborted test workers in CI (rc 134) twice; this one-thread design fed every training
campaign for hours without a fault.  XLA releases the GIL, so the thread overlaps the caller.
An exception in the thread is re-raised to the consumer; closing the generator stops it.
"""
from __future__ import annotations

import threading
from collections import deque
from typing import Callable, Iterator


def prefetched(make: Callable[[int], dict], prefetch: int = 2, name: str = "prefetch") -> Iterator:
    """make(0), make(1), ... in order, up to `prefetch` of them made ahead on one thread."""
    ready: deque = deque([make(0)])
    cond = threading.Condition()
    stop = threading.Event()
    failed: list = []

    def work():
        j = 1
        while not stop.is_set():
            try:
                b = make(j)
            except BaseException as e:  # handed to the consumer, which re-raises it
                failed.append(e)
                return
            j += 1
            with cond:
                while len(ready) >= prefetch and not stop.is_set():
                    cond.wait(0.1)
                ready.append(b)
                cond.notify_all()

    thread = threading.Thread(target=work, daemon=True, name=name)
    thread.start()
    try:
        while True:
            with cond:
                while not ready:
                    if failed:
                        raise failed[0]
                    if not thread.is_alive():
                        raise RuntimeError(f"the {name} thread stopped")
                    cond.wait(0.1)
                b = ready.popleft()
                cond.notify_all()
            yield b
    finally:
        stop.set()
        thread.join(timeout=5)
