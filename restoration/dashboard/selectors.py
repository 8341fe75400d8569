"""Reads the dashboard needs that no other app's selectors cover. Organization first, always."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Count, Q, Sum
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
