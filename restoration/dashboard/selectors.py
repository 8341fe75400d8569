"""Reads the dashboard needs that no other app's selectors cover. Organization first, always."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Count, OuterRef, Q, QuerySet, Subquery, Sum
from django.utils import timezone

from accounts.models import Organization
from billing.models import LedgerEntry
from jobs.models import Job


@dataclass(frozen=True)
class Usage:
    days: int
    jobs: int
    completed: int
    failed: int
    in_flight: int
    spent: int


def usage_for(organization: Organization, *, days: int = 30) -> Usage:
    """Jobs and money spent (captured holds) over the last ``days`` days."""
    since = timezone.now() - timedelta(days=days)
    counts = Job.objects.filter(organization=organization, created_at__gte=since).aggregate(
        jobs=Count("id"),
        completed=Count("id", filter=Q(status=Job.Status.COMPLETED)),
        failed=Count("id", filter=Q(status__in=[Job.Status.FAILED, Job.Status.ERROR])),
    )
    in_flight = Job.objects.filter(organization=organization, status__in=Job.IN_FLIGHT).count()
    captured = LedgerEntry.objects.filter(
        organization=organization, kind=LedgerEntry.Kind.CAPTURE, created_at__gte=since
    ).aggregate(total=Sum("amount"))["total"]
    return Usage(days=days, in_flight=in_flight, spent=-(captured or 0), **counts)


def charged_subquery():
    """What each job was actually charged (minor units, positive), or NULL: the sum of its
    capture entries, as a subquery so a page of jobs costs one query whatever its length."""
    captures = (
        LedgerEntry.objects.filter(job=OuterRef("pk"), kind=LedgerEntry.Kind.CAPTURE)
        .values("job")
        .annotate(total=Sum("amount"))
        .values("total")
    )
    return Subquery(captures[:1])


def with_charged(jobs: QuerySet[Job]) -> QuerySet[Job]:
    """Annotate ``captured_total`` (negative minor units, as the ledger writes a charge, or None
    when nothing was captured); the ``charged`` template filter shows it."""
    return jobs.annotate(captured_total=charged_subquery())


def charged_for(organization: Organization, job: Job) -> int | None:
    total = LedgerEntry.objects.filter(organization=organization, job=job, kind=LedgerEntry.Kind.CAPTURE).aggregate(
        total=Sum("amount")
    )["total"]
    return -total if total else None
