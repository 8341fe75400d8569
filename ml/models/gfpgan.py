"""GFPGAN v1.4 (Wang et al., CVPR 2021), the "clean" architecture from spandrel."""

from __future__ import annotations

import torch

from ml.models.restorer import FaceRestorer


class GFPGANRestorer(FaceRestorer):
    """GFPGAN v1.4: a U-Net encoder driving a StyleGAN2 decoder through SFT layers.

    Tensor contract: as ``FaceRestorer`` - float32 (N, 3, 512, 512) RGB in [-1, 1] in and out.
    It takes no fidelity (``fidelity`` is ignored). Like the reference ``GFPGANer``, the
    StyleGAN noise inputs are random, so two runs differ slightly.
    """

    name = "gfpgan"

    def _forward(self, faces: torch.Tensor, fidelity: float) -> torch.Tensor:
        return self.module(faces, return_rgb=False)[0]
