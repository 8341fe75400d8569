"""Value objects passed between the API layer and the job services."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from ml.options import RestoreOptions

# The gateway document names the fidelity weight ``codeformer_fidelity``; everything else is
# spelled as the field is.
_ALIASES = {"codeformer_fidelity": "fidelity"}
_COERCE = {
    "model": str,
    "fidelity": float,
    "upscale": int,
    "background_enhance": bool,
    "face_upsample": bool,
    "only_center_face": bool,
    "has_aligned": bool,
}


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

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> JobParams:
        """The one way validated API fields, form data and a job's stored ``params`` become
        JobParams: names this class does not know are ignored, a missing (or None) value takes
        the default above, and values are coerced to the field's type (TypeError/ValueError if
        they cannot be). The defaults an endpoint documents stay with its serializer."""
        known = {field.name for field in fields(cls)}
        kwargs: dict[str, Any] = {}
        for raw_name, value in values.items():
            name = _ALIASES.get(raw_name, raw_name)
            if name in known and value is not None:
                kwargs[name] = _COERCE[name](value)
        return cls(**kwargs)

    def as_dict(self) -> dict:
        return asdict(self)

    def restore_options(self) -> RestoreOptions:
        """What the engine is asked for (ValueError when a value is out of the engine's range)."""
        return RestoreOptions(
            fidelity=self.fidelity,
            upscale=self.upscale,
            background_enhance=self.background_enhance,
            face_upsample=self.face_upsample,
            has_aligned=self.has_aligned,
            only_center_face=self.only_center_face,
            model=self.model,
        )


@dataclass(frozen=True)
class ImageInput:
    """An input image that has already passed validation (``restoration.intake``). ``pdq_hex`` and
    ``pdq_quality``: its PDQ hash when intake computed it from its own decode ("" when not: the
    screening hashes the bytes)."""

    data: bytes
    name: str
    width: int
    height: int
    format: str
    source_url: str = ""
    pdq_hex: str = ""
    pdq_quality: int = 0
