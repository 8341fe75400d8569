"""Where the playground's photo comes from, besides an upload: a sample, an earlier job's input
("run again with these settings"), or the photos kept from a submission that was refused.

Kept photos live in the cache (not in storage, not in the database), scoped to the organization
and the member, for ``KEEP_FOR_S``; a refused submission therefore leaves no rows or files.
"""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass
from pathlib import Path

from django.core.cache import cache

from jobs import selectors as job_selectors
from jobs.types import ImageInput
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
