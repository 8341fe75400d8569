"""Where job files live and the URLs that serve them.

Inputs go to ``inputs/<org id>/<job id>.<ext>`` and results to ``outputs/<org id>/<job id>.png``
through Django's default storage (local files, or S3 via django-storages). On local storage a
file is served by ``jobs.views.media_download`` behind a signed, expiring token; on S3 the
storage's own presigned URL is handed out instead.
"""

from __future__ import annotations

from django.conf import settings
from django.core import signing
from django.core.files.storage import FileSystemStorage, default_storage
from django.urls import reverse

from jobs.models import Job

MEDIA_KINDS = {"output": "output.png", "input": "input"}
_SIGNING_SALT = "jobs.media"


def input_path(job: Job, fmt: str) -> str:
    ext = {"JPEG": "jpg", "TIFF": "tif"}.get(fmt.upper(), fmt.lower() or "bin")
    return f"inputs/{job.organization_id}/{job.id}.{ext}"


def output_path(job: Job) -> str:
    return f"outputs/{job.organization_id}/{job.id}.png"


def delete_stored(name: str) -> None:
    """Delete a stored file; a file that is already gone is not an error."""
    if name:
        default_storage.delete(name)


def file_for(job: Job, kind: str):
    """The FieldFile of ``kind`` ("output" or "input")."""
    if kind not in MEDIA_KINDS:
        raise ValueError(f"unknown media kind {kind!r}")
    return job.output_file if kind == "output" else job.input_file


def download_name(job: Job, kind: str) -> str:
    if kind == "output":
        return "output.png"
    ext = job.input_file.name.rsplit(".", 1)[-1] if "." in job.input_file.name else "bin"
    return f"input.{ext}"


def media_url(job: Job, kind: str = "output", *, base_url: str) -> str:
    """An absolute URL a client can download the file from, valid for ``MEDIA_URL_TTL_S``."""
    name = file_for(job, kind).name
    if not name:
        raise ValueError(f"job {job.id} has no {kind} file")
    if not isinstance(default_storage, FileSystemStorage):
        # S3 (querystring_auth) answers with a presigned URL that expires on its own.
        return default_storage.url(name)
    token = signing.TimestampSigner(salt=_SIGNING_SALT).sign(f"{job.id}:{kind}")
    path = reverse("jobs:media-download", kwargs={"token": token, "filename": download_name(job, kind)})
    return f"{base_url.rstrip('/')}{path}"


def unsign_media_token(token: str) -> tuple[str, str]:
    """``(job id, kind)`` from a token; raises ``signing.SignatureExpired`` / ``BadSignature``."""
    value = signing.TimestampSigner(salt=_SIGNING_SALT).unsign(token, max_age=settings.MEDIA_URL_TTL_S)
    job_id, _, kind = value.partition(":")
    if kind not in MEDIA_KINDS:
        raise signing.BadSignature("unknown media kind")
    return job_id, kind
