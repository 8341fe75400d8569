"""CodeFormer (Zhou et al., NeurIPS 2022), the architecture from spandrel-extra-arches."""

from __future__ import annotations

import torch

from ml.models.restorer import FaceRestorer


class CodeFormerRestorer(FaceRestorer):
    """CodeFormer with a fidelity weight ``w`` in [0, 1] (0: most generative, 1: most faithful).

    Tensor contract: as ``FaceRestorer`` - float32 (N, 3, 512, 512) RGB in [-1, 1] in and out.
    The network predicts 256 codebook indices per face, decodes them and, for w > 0, fuses
    encoder features back in with weight w; AdaIN aligns the code features to the input's
    statistics (the reference's ``adain=True``). On CPU the module and inputs are put in
    channels_last, which is faster and picks the same codebook indices.
    """

    name = "codeformer"
    takes_fidelity = True

    def __init__(self, module: torch.nn.Module, device: str, *, max_batch: int = 4) -> None:
        self.channels_last = device == "cpu"
        if self.channels_last:
            module = module.to(memory_format=torch.channels_last)
        super().__init__(module, device, max_batch=max_batch)

    def _forward(self, faces: torch.Tensor, fidelity: float) -> torch.Tensor:
        if self.channels_last:
            faces = faces.contiguous(memory_format=torch.channels_last)
        return self.module(faces, weight=float(fidelity))[0]
