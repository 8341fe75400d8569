"""Where the playground's photo comes from, besides an upload: a sample, an earlier job's input
("run again with these settings"), or the photos kept from a submission that was refused.

Kept photos live in the cache (not in storage, not in the database), scoped to the organization
and the member, for ``KEEP_FOR_S``; a refused submission therefore leaves no rows or files.
"""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass
from pathlib import Path

from django.conf import settings
from django.core.cache import cache

from jobs import selectors as job_selectors
from jobs.types import ImageInput
from ml.imageio import ALLOWED_FORMATS
from restoration import intake
from restoration.errors import InvalidInput

SAMPLES_DIR = Path(__file__).resolve().parent.parent / "static" / "samples"
KEEP_FOR_S = 30 * 60


@dataclass(frozen=True)
class Sample:
    name: str
    title: str

    @property
    def static_path(self) -> str:
        return f"samples/{self.name}"


SAMPLES = [
    Sample("portrait.jpg", "A small portrait"),
    Sample("two-people.jpg", "Two people"),
    Sample("group.jpg", "A group, small faces"),
]


@dataclass(frozen=True)
class UploadFormat:
    """A format the server accepts (``ml.imageio.ALLOWED_FORMATS``), as a browser names it.
    ``previews``: whether browsers can draw it, so the page can check that a file decodes."""

    name: str
    mime_types: tuple[str, ...]
    extensions: tuple[str, ...]
    previews: bool = True


# In the order the API's own error message names them; only those the server accepts are offered.
_KNOWN_FORMATS = (
    UploadFormat("PNG", ("image/png",), (".png",)),
    UploadFormat("JPEG", ("image/jpeg", "image/pjpeg"), (".jpg", ".jpeg", ".jpe", ".jfif")),
    UploadFormat("WEBP", ("image/webp",), (".webp",)),
    UploadFormat("BMP", ("image/bmp", "image/x-ms-bmp"), (".bmp",)),
    UploadFormat("TIFF", ("image/tiff",), (".tif", ".tiff"), previews=False),
)


def upload_formats() -> list[UploadFormat]:
    return [fmt for fmt in _KNOWN_FORMATS if fmt.name in ALLOWED_FORMATS]


def formats_text() -> str:
    """``PNG, JPEG, WEBP, BMP or TIFF``: the formats the server accepts, for people."""
    names = [fmt.name for fmt in upload_formats()]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def accept_attribute() -> str:
    """The file input's ``accept``: every MIME type and extension of the accepted formats."""
    return ",".join(value for fmt in upload_formats() for value in (*fmt.mime_types, *fmt.extensions))


def upload_limit_text() -> str:
    """``20 MB``: ``settings.MAX_UPLOAD_BYTES`` in binary megabytes, as people read it."""
    megabytes = settings.MAX_UPLOAD_BYTES / (1024 * 1024)
    if megabytes >= 1:
        return f"{megabytes:.1f}".removesuffix(".0") + " MB"
    return f"{settings.MAX_UPLOAD_BYTES // 1024} KB"


def upload_checks() -> dict:
    """What the page's script checks each chosen file against, before anything is uploaded."""
    return {
        "max_bytes": settings.MAX_UPLOAD_BYTES,
        "max_text": upload_limit_text(),
        "formats_text": formats_text(),
        "formats": [asdict(fmt) for fmt in upload_formats()],
    }


def sample_names() -> list[str]:
    return [sample.name for sample in SAMPLES]


def sample_image(name: str) -> ImageInput:
    if name not in sample_names():
        raise InvalidInput("No such sample photo.")
    data = (SAMPLES_DIR / name).read_bytes()
    return intake.image_from_bytes(data, name=name)


def rerun_image(organization, request_id: str) -> ImageInput:
    """The input of one of the organization's jobs, validated again like any upload."""
    job = job_selectors.job_get(organization=organization, request_id=request_id)
    if not job.input_file or job.files_purged_at or job.moderated_at:
        raise InvalidInput("The photo of that job is no longer stored; choose it again.")
    try:
        with job.input_file.open("rb") as handle:
            data = handle.read()
    except FileNotFoundError as exc:
        raise InvalidInput("The photo of that job is no longer stored; choose it again.") from exc
    image = intake.image_from_bytes(data, name=job.input_name or "photo")
    return ImageInput(**{**asdict(image), "source_url": job.input_url})


def _cache_key(organization, user, token: str) -> str:
    return f"playground:kept:{organization.id}:{user.pk}:{token}"


def keep_images(organization, user, images: list[ImageInput]) -> str:
    token = secrets.token_urlsafe(16)
    cache.set(_cache_key(organization, user, token), [asdict(image) for image in images], KEEP_FOR_S)
    return token


def kept_images(organization, user, token: str) -> list[ImageInput]:
    if not token:
        return []
    stored = cache.get(_cache_key(organization, user, token))
    if not stored:
        raise InvalidInput("The photo you chose earlier has expired; choose it again.")
    return [ImageInput(**item) for item in stored]


def forget_images(organization, user, token: str) -> None:
    if token:
        cache.delete(_cache_key(organization, user, token))
