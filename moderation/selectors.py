"""Reads for the moderation console (staff see every tenant) and for customers (their own only)."""

from __future__ import annotations

from django.db.models import QuerySet

from jobs.models import Job
from moderation.models import BlockedHash, ModerationAction, ModerationItem


def queue(*, status: str = ModerationItem.Status.OPEN, origin: str = "") -> QuerySet[ModerationItem]:
    items = ModerationItem.objects.select_related("job", "organization", "api_key", "user", "matched_hash")
    if status in ModerationItem.Status.values:
        items = items.filter(status=status)
    if origin in ModerationItem.Origin.values:
        items = items.filter(origin=origin)
    return items.order_by("-created_at")


def item_get(item_id) -> ModerationItem:
    return ModerationItem.objects.select_related(
        "job__organization__wallet", "organization", "api_key__subscription", "user", "matched_hash", "resolved_by"
    ).get(pk=item_id)


def item_actions(item: ModerationItem) -> QuerySet[ModerationAction]:
    return item.actions.select_related("ledger_entry").order_by("created_at", "id")


def recent_jobs_to_review(limit: int = 30) -> QuerySet[Job]:
    """Recent jobs whose files still exist and that are not already in the queue."""
    return (
        Job.objects.select_related("organization")
        .filter(moderated_at__isnull=True, files_purged_at__isnull=True)
        .exclude(input_file="")
        .exclude(moderation_items__status=ModerationItem.Status.OPEN)
        .order_by("-created_at")[:limit]
    )


def blocklist() -> QuerySet[BlockedHash]:
    return BlockedHash.objects.select_related("added_by").order_by("-created_at")


def job_moderation_actions(*, organization, job: Job) -> QuerySet[ModerationAction]:
    """What trust and safety did to one of the organization's jobs (customer-facing fields only)."""
    if job.organization_id != organization.id:
        return ModerationAction.objects.none()
    return (
        ModerationAction.objects.filter(job=job, item__organization=organization)
        .exclude(customer_message="")
        .only("kind", "customer_message", "created_at")
        .order_by("created_at")
    )
