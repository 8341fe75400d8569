"""One wrapper per network; each documents its tensor contract (shape, dtype, range).

``RESTORERS`` names the face restoration models a job can ask for, with the checkpoint each
one needs and the loader and wrapper that turn it into a ``FaceRestorer``. The helper networks
(detector, parser, background upsampler) are fixed and always come from the same checkpoints.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from ml import loading
from ml.models.codeformer import CodeFormerRestorer
from ml.models.gfpgan import GFPGANRestorer
from ml.models.restoreformer import RestoreFormerRestorer
from ml.models.restorer import FaceRestorer


@dataclass(frozen=True)
class RestorerSpec:
    checkpoint: str
    load: Callable[[Path, str], torch.nn.Module]
    wrap: type[FaceRestorer]


RESTORERS: dict[str, RestorerSpec] = {
    "codeformer": RestorerSpec("codeformer", loading.load_codeformer, CodeFormerRestorer),
    "gfpgan": RestorerSpec("gfpgan_v1.4", loading.load_gfpgan, GFPGANRestorer),
    "restoreformer": RestorerSpec("restoreformer", loading.load_restoreformer, RestoreFormerRestorer),
}
DETECTOR_CHECKPOINT = "retinaface_resnet50"
PARSER_CHECKPOINT = "parsenet"
UPSAMPLER_CHECKPOINT = "realesrgan_x2plus"
