"""Domain errors of job submission that no other app owns."""

from __future__ import annotations

from config.errors import BadRequest


class OutputTooLarge(BadRequest):
    """The chosen upscale would make an output over ``MAX_OUTPUT_PIXELS``; names the largest that fits."""

    def __init__(self, *, width: int, height: int, upscale: int, limit: int, largest: int):
        size = f"{width * upscale}x{height * upscale}"
        if largest >= 1:
            advice = f"the largest upscale allowed for this image is {largest}"
        else:
            advice = "the image itself is larger than that; send a smaller image"
        super().__init__(
            f"upscale {upscale} would make a {size} output ({width * height * upscale**2:,} pixels), "
            f"over the limit of {limit:,} pixels; {advice}.",
            extra={"max_upscale": max(largest, 0)},
        )
