"""The moderation hooks on the job path: PDQ hashes of inputs (at intake) and outputs (in the
worker), and the blocklist check that refuses an input before anything is stored or charged.

Imports nothing from ``jobs`` or ``restoration``, so ``jobs.services`` can call it directly.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from PIL import UnidentifiedImageError

from lib.inserts import inserts_new
from lib.pdq import PdqHash, hamming_distance, pdq_of_bytes
from moderation.errors import ImageRefused
from moderation.models import BlockedHash, ImageHash, ModerationItem

logger = logging.getLogger(__name__)

REFUSED_REQUEST_PREFIX = "refused_"


@dataclass(frozen=True)
class BlocklistMatch:
    blocked: BlockedHash
    distance: int


def blocklist_match(pdq: PdqHash) -> BlocklistMatch | None:
    """The nearest blocked hash within the match distance, if any. Low-quality hashes (flat images)
    never match: they collide with each other too easily to refuse anyone on."""
    if pdq.quality < settings.PDQ_MIN_QUALITY:
        return None
    best: BlocklistMatch | None = None
    # The blocklist is small (hundreds to low thousands of rows); a scan is a few milliseconds.
    for blocked in BlockedHash.objects.only("id", "pdq_hash", "reason").iterator(chunk_size=2000):
        distance = hamming_distance(pdq.hex, blocked.pdq_hash)
        if distance <= settings.PDQ_MATCH_DISTANCE and (best is None or distance < best.distance):
            best = BlocklistMatch(blocked=blocked, distance=distance)
    return best


def _hash_or_none(data: bytes) -> PdqHash | None:
    try:
        return pdq_of_bytes(data)
    except (UnidentifiedImageError, OSError, ValueError):
        # Intake validated the bytes already; an image PDQ cannot read is simply not hashed.
        logger.warning("could not compute a PDQ hash", exc_info=True)
        return None


def images_screen(*, organization, images, source: str, api_key=None, user=None) -> list[PdqHash | None]:
    """Hash every input and refuse the request (``ImageRefused``, 400) when one matches the
    blocklist; that opens a queue item with the hash, never the file. Returns the hashes, in
    order, for ``image_hashes_record``."""
    hashes = [_hash_or_none(image.data) for image in images]
    for pdq in hashes:
        match = blocklist_match(pdq) if pdq else None
        if match is not None:
            _open_refusal_item(
                organization=organization, api_key=api_key, user=user, source=source, pdq=pdq, match=match
            )
            raise ImageRefused()
    return hashes


def _open_refusal_item(*, organization, api_key, user, source, pdq: PdqHash, match: BlocklistMatch) -> None:
    ModerationItem.objects.create(
        origin=ModerationItem.Origin.BLOCKLIST,
        organization=organization,
        api_key=api_key,
        user=user if getattr(user, "is_authenticated", False) else None,
        source=source,
        request_id=f"{REFUSED_REQUEST_PREFIX}{uuid.uuid4()}",
        reason=f"Upload refused: within {match.distance} bits of a blocked hash ({match.blocked.reason}).",
        pdq_hash=pdq.hex,
        matched_hash=match.blocked,
        match_distance=match.distance,
    )


def image_hash_rows(*, jobs, hashes: list[PdqHash | None]) -> list[ImageHash]:
    """The input-hash rows of freshly created jobs (one per job with a hash, in order), unsaved:
    written with the admission (``NewRows(..., ignore_conflicts=True)``)."""
    return [
        ImageHash(job_id=job.id, kind=ImageHash.Kind.INPUT, pdq_hash=pdq.hex, quality=pdq.quality)
        for job, pdq in zip(jobs, hashes, strict=False)
        if pdq is not None
    ]


def image_hashes_record(*, jobs, hashes: list[PdqHash | None]) -> None:
    """Store the input hashes of freshly created jobs (one per job, in order)."""
    inserts_new(image_hash_rows(jobs=jobs, hashes=hashes), ignore_conflicts=True)


def output_hash_record(*, job, png: bytes) -> None:
    """Hash a finished job's output. Never fails the job: a hash is for moderation, not delivery."""
    pdq = _hash_or_none(png)
    if pdq is None:
        return
    try:
        with transaction.atomic():
            ImageHash.objects.create(job_id=job.id, kind=ImageHash.Kind.OUTPUT, pdq_hash=pdq.hex, quality=pdq.quality)
    except IntegrityError:
        pass  # a re-delivered message already recorded it
