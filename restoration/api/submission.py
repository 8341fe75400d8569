"""Pieces both APIs use to turn a validated request into ``job_submit`` arguments."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable

from jobs.idempotency import idempotency_key_clean
from jobs.types import ImageInput, JobParams
from restoration.intake import fingerprint_of


def replay_headers(*, created: bool) -> dict[str, str]:
    """``Idempotent-Replayed: true`` on an answer a retry with the same Idempotency-Key got again."""
    return {} if created else {"Idempotent-Replayed": "true"}


def idempotency_key_from(request) -> str | None:
    """The request's Idempotency-Key header, checked by the same rule ``job_submit`` applies."""
    return idempotency_key_clean(request.headers.get("Idempotency-Key"))


def request_fingerprint(
    *,
    endpoint: str,
    params: JobParams,
    images: Iterable[ImageInput] = (),
    image_ids: Iterable[str] | None = None,
    webhook_url: str = "",
    webhook_events=None,
) -> str:
    """A digest of everything that makes two requests the same request (for Idempotency-Key
    reuse). Images count by ``intake.fingerprint_of``, or by ``image_ids`` already computed."""
    body = {
        "endpoint": endpoint,
        "params": params.as_dict(),
        "images": list(image_ids) if image_ids is not None else [fingerprint_of(image) for image in images],
        "webhook_url": webhook_url,
        "webhook_events": sorted(webhook_events) if webhook_events else None,
    }
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
