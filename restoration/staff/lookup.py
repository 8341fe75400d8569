"""One request, found across every organization: what support and the engineer on call open
when a customer quotes a request id ("it failed", "I was charged twice", "my webhook never came").

Staff reads are cross-tenant by design; they never reach customers' views. The page shows what
happened to the request (status, timings, the operator's error detail, the money moved for it,
each webhook attempt, the progress log, moderation items) and not the pictures: looking at a
customer's photo is a moderation action, taken from a moderation item, where it is recorded.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from django.db.models import QuerySet

from billing.models import LedgerEntry
from billing.selectors import ledger_for
from jobs.models import Job, JobLog, WebhookDelivery
from jobs.selectors import job_logs, parse_request_id, webhook_deliveries_for
from moderation.models import REPORT_REFERENCE_PREFIX, AbuseReport, ModerationItem
from moderation.screening import REFUSED_REQUEST_PREFIX


@dataclass(frozen=True)
class Found:
    """Where a quoted id leads: a job, or (for an upload refused at intake, which made no job)
    the moderation item that recorded the refusal."""

    job_id: uuid.UUID | None = None
    item_id: uuid.UUID | None = None


def request_find(query: str) -> Found | None:
    """The job or refused upload a customer quoted: ``codeformer-image-restoration_<uuid>``, the
    bare uuid, or ``refused_<uuid>``; or the ``AR-…`` reference an abuse reporter was given
    (its queue item). Surrounding spaces and quotes are ignored, and case for a reference."""
    text = (query or "").strip().strip("\"'`").strip()
    if not text:
        return None
    if text.startswith(REFUSED_REQUEST_PREFIX):
        item_id = ModerationItem.objects.filter(request_id=text).values_list("id", flat=True).first()
        return Found(item_id=item_id) if item_id else None
    if text.upper().startswith(REPORT_REFERENCE_PREFIX):
        item_id = AbuseReport.objects.filter(reference=text.upper()).values_list("item_id", flat=True).first()
        return Found(item_id=item_id) if item_id else None
    job_id = parse_request_id(text)
    if job_id is None:
        return _by_short_id(text)
    if Job.objects.filter(id=job_id).exists():
        return Found(job_id=job_id)
    return None


_SHORT_ID = re.compile(r"^(?:…|\.\.\.)?([0-9a-f-]{12,35})$")


def _by_short_id(text: str) -> Found | None:
    """The dashboard's short form of a request id (``…44bf30aa50c1``: its last 12 characters),
    which is what a customer reading a table quotes; found when exactly one request ends so."""
    match = _SHORT_ID.match(text.lower())
    if match is None:
        return None
    ids = list(Job.objects.filter(id__endswith=match.group(1)).values_list("id", flat=True)[:2])
    return Found(job_id=ids[0]) if len(ids) == 1 else None


@dataclass(frozen=True)
class RequestRecord:
    job: Job
    entries: QuerySet[LedgerEntry]
    deliveries: QuerySet[WebhookDelivery]
    logs: QuerySet[JobLog]
    items: QuerySet[ModerationItem]

    @property
    def charged(self) -> int:
        """What its completion took from the wallet (its captures), before any refund."""
        return -sum(entry.amount for entry in self.entries if entry.kind == LedgerEntry.Kind.CAPTURE)

    @property
    def refunded(self) -> int:
        """What our staff gave back for it (refund adjustments tied to the job)."""
        return sum(
            entry.amount for entry in self.entries if entry.kind == LedgerEntry.Kind.ADJUSTMENT and entry.amount > 0
        )


def request_record(job_id: uuid.UUID) -> RequestRecord | None:
    job = (
        Job.objects.select_related("organization__plan", "organization__wallet", "api_key__subscription", "created_by")
        .filter(id=job_id)
        .first()
    )
    if job is None:
        return None
    organization = job.organization
    return RequestRecord(
        job=job,
        entries=ledger_for(organization, job=job).order_by("created_at", "id"),
        deliveries=webhook_deliveries_for(organization, job=job),
        logs=job_logs(job),
        items=job.moderation_items.order_by("-created_at"),
    )
