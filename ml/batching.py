"""Faces of several concurrent jobs restored in one batched forward (the GPU worker).

A GPU worker runs several jobs at once, one per worker thread, through one shared pipeline.
Each job detects, aligns, pastes and encodes on its own; at the restore stage its thread hands
its faces to the process's ``FaceBatcher`` and waits. The first waiting thread leads: it waits
up to ``window_s`` for other threads' faces (less once ``max_batch`` faces are pending), then
runs one forward per (network, fidelity) group, chunked by the restorer's own ``max_batch``
(fp16 autocast with its fp32 retry on CUDA), and hands every thread its own faces back. Only
the leader calls the network, so forwards never overlap. A group whose forward fails is rerun
request by request, so one job's bad input (or a face that overflows even in fp32) fails that
job only. On CPU a batch buys nothing, so the pipeline uses a batcher only where configured.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import torch

from ml.models.restorer import FaceRestorer


@dataclass(eq=False)
class _Request:
    restorer: FaceRestorer
    faces: torch.Tensor
    fidelity: float
    done: bool = False
    output: torch.Tensor | None = None
    error: BaseException | None = None


class FaceBatcher:
    def __init__(self, *, max_batch: int = 8, window_s: float = 0.02) -> None:
        self.max_batch = max(1, max_batch)
        self.window_s = window_s
        self.forwards: list[int] = []  # faces per batched call, for tests and metrics
        self._cond = threading.Condition()
        self._pending: list[_Request] = []
        self._leading = False

    def restore(self, restorer: FaceRestorer, faces: torch.Tensor, fidelity: float) -> torch.Tensor:
        """As ``restorer.restore(faces, fidelity)``, possibly in one forward with other threads'
        faces; raises what the forward of this request's own faces raised."""
        request = _Request(restorer, faces, float(fidelity))
        batch: list[_Request] | None = None
        with self._cond:
            self._pending.append(request)
            self._cond.notify_all()
            while not request.done:
                if not self._leading:
                    self._leading = True
                    batch = self._collect()
                    break
                self._cond.wait()
        if batch is not None:
            try:
                self._run(batch)
            finally:
                with self._cond:
                    self._leading = False
                    self._cond.notify_all()
        if request.error is not None:
            raise request.error
        assert request.output is not None
        return request.output

    def _collect(self) -> list[_Request]:
        """(Lock held.) Wait for more faces within the window, then take everything pending."""
        deadline = time.monotonic() + self.window_s
        while sum(r.faces.shape[0] for r in self._pending) < self.max_batch:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            self._cond.wait(remaining)
        batch, self._pending = self._pending, []
        return batch

    def _run(self, batch: list[_Request]) -> None:
        groups: dict[tuple[int, float], list[_Request]] = {}
        for request in batch:
            groups.setdefault((id(request.restorer), request.fidelity), []).append(request)
        for group in groups.values():
            for chunk in self._chunks(group):
                self._run_group(chunk)
        with self._cond:
            for request in batch:
                request.done = True
            self._cond.notify_all()

    def _chunks(self, group: list[_Request]) -> list[list[_Request]]:
        """Consecutive requests with at most ``max_batch`` faces together (a request with more
        faces than that is a chunk of its own; the restorer splits it)."""
        chunks: list[list[_Request]] = [[]]
        for request in group:
            if chunks[-1] and sum(r.faces.shape[0] for r in chunks[-1]) + request.faces.shape[0] > self.max_batch:
                chunks.append([])
            chunks[-1].append(request)
        return chunks

    def _run_group(self, group: list[_Request]) -> None:
        restorer, fidelity = group[0].restorer, group[0].fidelity
        try:
            output = restorer.restore(torch.cat([r.faces for r in group]), fidelity)
            self.forwards.append(output.shape[0])
        except Exception as exc:
            if len(group) == 1:
                group[0].error = exc
                return
            for request in group:  # someone's faces broke the batch: find whose
                self._run_group([request])
            return
        for request, part in zip(group, output.split([r.faces.shape[0] for r in group]), strict=True):
            request.output = part
