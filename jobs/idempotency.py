"""Idempotency keys of submissions: the one place a key is checked and an earlier request found.

The first job of a request carries the client's key; the others ``<key>::<n>``, so the unique
constraint on (organization, idempotency_key) guards the whole request. The column holds 200
characters; 190 leaves room for the suffix.
"""

from __future__ import annotations

from django.db.models import Q

from config.errors import BadRequest, UnprocessableEntity
from jobs.models import Job

KEY_SEPARATOR = "::"
MAX_IDEMPOTENCY_KEY_LENGTH = 190


def idempotency_key_clean(raw: str | None) -> str | None:
    """The key as stored, None when none was given; 400 when it is blank, too long, not
    printable ASCII, or contains the separator."""
    if raw is None:
        return None
    key = raw.strip()
    if not key:
        raise BadRequest("Idempotency-Key: must not be empty.")
    if len(key) > MAX_IDEMPOTENCY_KEY_LENGTH or not key.isprintable() or not key.isascii() or KEY_SEPARATOR in key:
        raise BadRequest(
            f"Idempotency-Key: must be printable ASCII of at most {MAX_IDEMPOTENCY_KEY_LENGTH} characters, "
            f"without '{KEY_SEPARATOR}'."
        )
    return key


def job_idempotency_key(key: str | None, index: int) -> str | None:
    """The key stored on the ``index``-th job of a request."""
    return f"{key}{KEY_SEPARATOR}{index}" if key and index else key


def jobs_for_key(organization, key: str) -> list[Job]:
    """The jobs an earlier request of the organization made with ``key``, in request order."""
    found = list(
        Job.objects.filter(organization=organization).filter(
            Q(idempotency_key=key) | Q(idempotency_key__startswith=f"{key}{KEY_SEPARATOR}")
        )
    )

    def position(job: Job) -> int:
        suffix = job.idempotency_key[len(key) + len(KEY_SEPARATOR) :]
        return int(suffix) if suffix.isdigit() else 0

    return sorted(found, key=position)


def check_replay(jobs: list[Job], fingerprint: str) -> list[Job]:
    """``jobs`` if a request with ``fingerprint`` may replay them; 422 when the key was used
    for a different request."""
    stored = jobs[0].request_fingerprint if jobs else ""
    if fingerprint and stored and fingerprint != stored:
        raise UnprocessableEntity("This Idempotency-Key was already used with a different request.")
    return jobs


def job_replay(*, organization, idempotency_key: str, fingerprint: str) -> list[Job]:
    """The jobs to answer a repeated request with (empty when the key is new)."""
    return check_replay(jobs_for_key(organization, idempotency_key), fingerprint)
