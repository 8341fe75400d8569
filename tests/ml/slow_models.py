"""Stand-in networks for the real pipeline: cheap, counted, and steerable from a test.

``slow_model_pipeline()`` is the REAL ``ml.pipeline.RestorationPipeline`` (alignment, tiling,
paste, encode: all its own code) with fake torch modules injected under the real wrappers
(``CodeFormerRestorer``, ``BackgroundUpsampler``, ``FaceParser``, ``FaceDetector``), so no
weights are loaded and no random-weight detection runs. Every forward appends its model's name
to ``SlowModels.calls``, sleeps ``SlowModels.delay_s`` and then calls ``SlowModels.on_call``
(name, number of calls of that model so far), where a test cancels, blocks or counts. The
detector "finds" ``SlowModels.faces`` faces at fixed places (the 512 template scaled into the
image), so whole-image jobs have faces without any detection network.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from ml.face.geometry import FACE_TEMPLATE
from ml.models.codeformer import CodeFormerRestorer
from ml.models.parsenet import FaceParser
from ml.models.realesrgan import BackgroundUpsampler
from ml.models.retinaface import FaceDetector

_record_lock = threading.Lock()


class SlowModels:
    calls: list[str] = []
    restorer_batches: list[int] = []  # faces per restorer forward
    delay_s: float = 0.0
    faces: int = 2
    on_call: Callable[[str, int], None] | None = None

    @classmethod
    def reset(cls) -> None:
        cls.calls = []
        cls.restorer_batches = []
        cls.delay_s = 0.0
        cls.faces = 2
        cls.on_call = None

    @classmethod
    def count(cls, name: str) -> int:
        return cls.calls.count(name)

    @classmethod
    def record(cls, name: str) -> None:
        # Calls may come from two model threads at once (ml/parallel.py): each call gets its
        # own number, so a hook waiting for call N sees exactly one call N.
        with _record_lock:
            cls.calls.append(name)
            number = cls.count(name)
        if cls.delay_s:
            time.sleep(cls.delay_s)
        if cls.on_call is not None:
            cls.on_call(name, number)


class FakeUpsampler(torch.nn.Module):
    """RRDBNet's contract: (1, 3, h, w) in [0, 1] -> (1, 3, 2h, 2w); nearest-neighbour 2x."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        SlowModels.record("upsampler")
        return F.interpolate(x, scale_factor=2, mode="nearest")


class FakeCodeFormer(torch.nn.Module):
    """CodeFormer's contract: forward(x, weight) -> (faces, logits, features); a mild change.
    A face that is all but black (mean < -0.9) comes out NaN: a "bad input" for the tests."""

    def forward(self, x: torch.Tensor, weight: float = 0.5) -> tuple[torch.Tensor, None, None]:
        SlowModels.record("restorer")
        SlowModels.restorer_batches.append(x.shape[0])
        out = x * 0.9 * (1 - 0.1 * weight)
        bad = x.mean(dim=(1, 2, 3)) < -0.9
        out[bad] = torch.nan
        return out, None, None


class FakeParseNet(torch.nn.Module):
    """ParseNet's contract: (N, 3, 512, 512) -> ((N, 19, 512, 512) logits, ...); the centre of
    the face is class 1 (skin), the rest background."""

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, None]:
        SlowModels.record("parser")
        logits = torch.zeros((x.shape[0], 19, x.shape[2], x.shape[3]), dtype=x.dtype)
        logits[:, 1, 96:416, 96:416] = 1.0
        return logits, None


class FakeRetinaFace:
    """facexlib's ``detect_faces`` contract: rows [x1, y1, x2, y2, score, 10 landmark coords]
    in the given image's pixels. ``SlowModels.faces`` faces side by side, each the 512
    template scaled to a third of the short side."""

    def detect_faces(self, image: np.ndarray, conf_threshold: float = 0.8) -> np.ndarray:
        SlowModels.record("detector")
        height, width = image.shape[:2]
        side = min(height, width) / 3
        rows = []
        for i in range(SlowModels.faces):
            origin = np.array([(i + 0.5) * width / SlowModels.faces - side / 2, (height - side) / 2])
            points = FACE_TEMPLATE * (side / 512) + origin
            box = [*(points.min(axis=0) - 10), *(points.max(axis=0) + 10), 0.999]
            rows.append(np.concatenate([box, points.reshape(-1)]))
        return np.asarray(rows, dtype=np.float32).reshape(-1, 15)


def slow_model_pipeline(*, bg_tile: int = 32, restorer_batch: int = 1, face_batcher=None, parallel: int = 1):
    """The real pipeline with the stand-ins above; small tiles so one image has many. Model
    calls run one after another unless ``parallel`` says how many run side by side."""
    from ml.pipeline import RestorationPipeline

    pipeline = RestorationPipeline(
        weights_dir="/nonexistent", device="cpu", bg_tile=bg_tile, face_batcher=face_batcher, parallel=parallel
    )
    pipeline._models.update(
        {
            "detector": FaceDetector(FakeRetinaFace(), "cpu"),
            "restorer:codeformer": CodeFormerRestorer(FakeCodeFormer(), "cpu", max_batch=restorer_batch),
            "parser": FaceParser(FakeParseNet(), "cpu", max_batch=1),
            "upsampler": BackgroundUpsampler(FakeUpsampler(), "cpu", tile=bg_tile),
        }
    )
    return pipeline
