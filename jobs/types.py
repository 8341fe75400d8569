"""Value objects passed between the API layer and the job services."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class JobParams:
    """What a client asked for; stored on the Job and priced by ``billing.pricing``."""

    model: str = "codeformer"
    fidelity: float = 0.5
    upscale: int = 2
    background_enhance: bool = True
    face_upsample: bool = True
    only_center_face: bool = False
    has_aligned: bool = False

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ImageInput:
    """An input image that has already passed validation (``restoration.intake``)."""

    data: bytes
    name: str
    width: int
    height: int
    format: str
    source_url: str = ""
