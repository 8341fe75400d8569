"""The shared machinery of the face restoration networks: batching, precision, sanity checks."""

from __future__ import annotations

import logging

import torch

from ml.cancel import NEVER, CancelToken
from ml.errors import RestorationFailed
from ml.parallel import ONE_AT_A_TIME, ModelPool

logger = logging.getLogger(__name__)


class FaceRestorer:
    """A 512x512 face restoration network.

    Tensor contract of ``restore`` (every subclass): ``faces`` float32 (N, 3, 512, 512), RGB,
    in [-1, 1], on ``self.device``; returns float32 (N, 3, 512, 512), RGB, nominally in [-1, 1]
    (not clamped), on the same device. Faces go through in batches of ``max_batch``, ``cancel`` checked
    before each (side by side with a ``ModelPool``); on CUDA the
    forward runs under fp16 autocast and falls back to fp32 for a batch that overflows.
    A non-finite output raises ``RestorationFailed``: an unrestored or broken face is never
    handed back as a result.
    """

    name = "face"
    takes_fidelity = False

    def __init__(self, module: torch.nn.Module, device: str, *, max_batch: int = 4) -> None:
        self.module = module
        self.device = device
        self.max_batch = max(1, max_batch)

    def restore(
        self, faces: torch.Tensor, fidelity: float, cancel: CancelToken = NEVER, *, pool: ModelPool = ONE_AT_A_TIME
    ) -> torch.Tensor:
        """``pool`` runs the batches side by side (ml/parallel.py; on a CPU a batch is one face)."""

        def run(chunk: torch.Tensor) -> torch.Tensor:
            with torch.inference_mode():
                return self._restore_batch(chunk, fidelity)

        return torch.cat(pool.map(run, faces.split(self.max_batch), cancel))

    def _restore_batch(self, faces: torch.Tensor, fidelity: float) -> torch.Tensor:
        try:
            output = self._forward_with_precision(faces, fidelity)
        except torch.OutOfMemoryError:
            if faces.shape[0] == 1:
                raise
            # One batched forward where memory allows; one face at a time where it does not.
            _empty_cache(self.device)
            return torch.cat([self._restore_batch(face[None], fidelity) for face in faces])
        if not torch.isfinite(output).all():
            raise RestorationFailed(f"{self.name} produced non-finite values")
        return output

    def _forward_with_precision(self, faces: torch.Tensor, fidelity: float) -> torch.Tensor:
        if self.device != "cuda":
            return self._forward(faces, fidelity).float()
        with torch.autocast("cuda", dtype=torch.float16):
            output = self._forward(faces, fidelity).float()
        if torch.isfinite(output).all():
            return output
        logger.warning("%s overflowed in fp16; running the batch in fp32", self.name)
        return self._forward(faces, fidelity).float()

    def _forward(self, faces: torch.Tensor, fidelity: float) -> torch.Tensor:
        raise NotImplementedError


def _empty_cache(device: str) -> None:
    if device == "cuda":
        torch.cuda.empty_cache()
