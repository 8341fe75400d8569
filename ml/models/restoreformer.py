"""RestoreFormer (Wang et al., CVPR 2022), the architecture from spandrel."""

from __future__ import annotations

import torch

from ml.models.restorer import FaceRestorer


class RestoreFormerRestorer(FaceRestorer):
    """RestoreFormer: a VQ autoencoder with multi-head cross-attention to a face dictionary.

    Tensor contract: as ``FaceRestorer`` - float32 (N, 3, 512, 512) RGB in [-1, 1] in and out
    (the raw network works in [-1, 1]; spandrel's convenience wrapper, which uses [0, 1], is
    bypassed). It takes no fidelity (``fidelity`` is ignored).
    """

    name = "restoreformer"

    def _forward(self, faces: torch.Tensor, fidelity: float) -> torch.Tensor:
        return self.module(faces)[0]
