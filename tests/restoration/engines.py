"""A small engine with the pipeline's API for API tests: real image work, no networks.

It decodes with ``ml.imageio`` (so bad input raises the real ``InvalidImage``), reports stages
through ``on_progress``, scales by ``options.upscale`` and encodes a PNG whose size matches what it
reports. ``fail_with`` makes it raise instead (to reach FAILED / ERROR).
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

from PIL import Image

from ml.imageio import probe_image


@dataclass
class Result:
    png: bytes
    width: int
    height: int
    faces: int
    timings: dict[str, float]
    warnings: list[str] = field(default_factory=list)


class ScalingEngine:
    device = "cpu"
    enabled_models = ["codeformer"]
    fail_with: BaseException | None = None

    def restore(self, data: bytes, options, on_progress=None) -> Result:
        progress = on_progress or (lambda stage: None)
        progress("decode")
        probe_image(data, max_pixels=40_000_000)
        image = Image.open(io.BytesIO(data)).convert("RGB")
        if self.fail_with is not None:
            raise self.fail_with
        progress("restore")
        scaled = image.resize((image.width * options.upscale, image.height * options.upscale))
        progress("encode")
        buffer = io.BytesIO()
        scaled.save(buffer, format="PNG")
        return Result(
            png=buffer.getvalue(), width=scaled.width, height=scaled.height, faces=1, timings={"restore": 0.001}
        )


def build_scaling_engine() -> ScalingEngine:
    return ScalingEngine()
