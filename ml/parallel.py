"""Independent model calls side by side on a CPU: one torch thread per call, one call per core.

torch's own intra-op parallelism splits every operator of a forward across the threads and meets
at a barrier after each; Real-ESRGAN alone is ~350 convolutions and as many element-wise ops per
tile, and on this 2-core CPU two threads on one tile gave 1.4x one thread, not 2x, and less
under load (a barrier waits for the thread the OS took away). The calls the pipeline makes come
in independent pieces — the faces of a photo, the tiles of a background — so running the pieces
side by side, each on one thread, keeps every core busy with no barriers between them. Each
piece computes exactly what it computes alone (same tensors, same operators); only the reduction
order of a single-threaded convolution can differ from a multi-threaded one (float rounding).

``map`` is the one entry point. It runs in the caller's thread when there is one piece or one
worker (the caller's torch threads then serve the single call). Cancellation is checked by the
caller's thread, before each piece is handed out and while pieces run, so a poll that reads a
database stays on the thread that owns the connection; once canceled, no further piece starts
and the call waits for the running ones (at most one model call per worker) before raising, so
two jobs' pieces never overlap.

Nothing here knows about Django or jobs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import TypeVar

from ml.cancel import NEVER, CancelToken

T = TypeVar("T")
R = TypeVar("R")

_CANCEL_POLL_S = 0.25  # how often the caller looks at its cancel token while pieces run


def _single_threaded() -> None:
    import torch

    torch.set_num_threads(1)


class ModelPool:
    """``workers`` threads, each running one model call at a time with one torch thread."""

    def __init__(self, workers: int) -> None:
        self.workers = max(1, int(workers))
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def map(self, fn: Callable[[T], R], items: Sequence[T], cancel: CancelToken = NEVER) -> list[R]:
        """``[fn(item) for item in items]``, the items side by side; ``cancel`` is checked before
        every item starts and while they run. The first exception of a piece (or of
        ``cancel``) is raised once the other running pieces finished; pieces not started are
        never started."""
        items = list(items)
        if self.workers == 1 or len(items) <= 1:
            results = []
            for item in items:
                cancel.check()
                results.append(fn(item))
            return results
        # At most one piece per worker is handed out at a time, so the cancel check before
        # each piece is made just before it starts, as in a plain loop.
        pool = self._pool()
        results: list = [None] * len(items)
        running: dict[Future, int] = {}
        following = 0
        try:
            while following < len(items) or running:
                while following < len(items) and len(running) < self.workers:
                    cancel.check()
                    running[pool.submit(fn, items[following])] = following
                    following += 1
                done, _ = wait(running, timeout=_CANCEL_POLL_S, return_when=FIRST_COMPLETED)
                for future in done:
                    results[running.pop(future)] = future.result()  # a piece's exception is raised here
                if not done:
                    cancel.check()
        except BaseException:
            # The running pieces hold model activations, and the next job's pieces must not
            # queue behind a job that was given up: wait for them (one model call each).
            wait(running)
            raise
        return results

    def close(self) -> None:
        with self._lock:
            if self._executor is not None:
                self._executor.shutdown(wait=True, cancel_futures=True)
                self._executor = None

    def _pool(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(
                    self.workers, thread_name_prefix="ml-model", initializer=_single_threaded
                )
            return self._executor


# A pool that runs every piece in the caller's thread, one after another: the default of the
# model wrappers, so they have one code path with or without parallel pieces.
ONE_AT_A_TIME = ModelPool(1)
