"""Per-request options of the engine (no torch import)."""

from __future__ import annotations

from dataclasses import dataclass, field

MIN_UPSCALE = 1
MAX_UPSCALE = 8


@dataclass(frozen=True)
class RestoreOptions:
    """What one restoration job asks for.

    ``landmarks`` injects 5-point landmarks per face (input-image pixel coordinates, template
    order: left eye, right eye, nose, left mouth corner, right mouth corner) in place of the
    detector; used by the parity tests and by callers that already know where the faces are.
    """

    fidelity: float = 0.5
    upscale: int = 2
    background_enhance: bool = False
    face_upsample: bool = False
    has_aligned: bool = False
    only_center_face: bool = False
    model: str = "codeformer"
    landmarks: tuple[tuple[tuple[float, float], ...], ...] | None = field(default=None)

    def __post_init__(self) -> None:
        if not 0.0 <= float(self.fidelity) <= 1.0:
            raise ValueError("fidelity must be within [0, 1]")
        if not MIN_UPSCALE <= int(self.upscale) <= MAX_UPSCALE:
            raise ValueError(f"upscale must be an integer within [{MIN_UPSCALE}, {MAX_UPSCALE}]")
