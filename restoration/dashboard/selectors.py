"""Reads the dashboard needs that no other app's selectors cover. Organization first, always."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Count, Q, Sum
from django.utils import timezone

from accounts.models import Organization
from billing.models import LedgerEntry
from billing.selectors import REQUEST_REFUNDS
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
    """Jobs and money spent over the last ``days`` days: captured holds less what our staff
    refunded for requests (what the wallet really paid)."""
    since = timezone.now() - timedelta(days=days)
    counts = Job.objects.filter(organization=organization, created_at__gte=since).aggregate(
        jobs=Count("id"),
        completed=Count("id", filter=Q(status=Job.Status.COMPLETED)),
        failed=Count("id", filter=Q(status__in=[Job.Status.FAILED, Job.Status.ERROR])),
    )
    in_flight = Job.objects.filter(organization=organization, status__in=Job.IN_FLIGHT).count()
    Kind = LedgerEntry.Kind
    money = LedgerEntry.objects.filter(organization=organization, created_at__gte=since).aggregate(
        captured=Sum("amount", filter=Q(kind=Kind.CAPTURE)),
        refunded=Sum("amount", filter=REQUEST_REFUNDS),
    )
    spent = -(money["captured"] or 0) - (money["refunded"] or 0)
    return Usage(days=days, in_flight=in_flight, spent=spent, **counts)


def trial_credit_only(organization: Organization) -> int:
    """The trial credit the organization received, while it is all the credit it has had (no
    top-up, plan credit or staff credit yet): what the overview names as the source of the
    balance. 0 otherwise."""
    Kind = LedgerEntry.Kind
    totals = LedgerEntry.objects.filter(organization=organization).aggregate(
        trial=Sum("amount", filter=Q(kind=Kind.TRIAL)),
        # Bought, included with the plan or granted by staff: the balance is no longer the trial's.
        paid=Count("id", filter=Q(kind__in=[Kind.TOPUP, Kind.PLAN_CREDIT]) | Q(kind=Kind.ADJUSTMENT, amount__gt=0)),
    )
    if totals["paid"]:
        return 0
    return totals["trial"] or 0
