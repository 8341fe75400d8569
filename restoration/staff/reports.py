"""Reads for the staff console. Staff see every tenant, so nothing here takes an organization."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from django.db.models import Count, F, Q, Sum
from django.db.models.functions import Coalesce, TruncMonth

from accounts.models import Organization
from billing.models import LedgerEntry, Wallet
from jobs.models import Job

Kind = LedgerEntry.Kind
# Every kind of ledger row has its column, so a row adds up to what it moved: top-ups + credits -
# revenue + refunded usage + adjustments - card refunds and disputes = the change in balance.
MONEY_COLUMNS = ("topups", "credits", "revenue", "usage_refunds", "released", "adjustments", "card_refunds")


@dataclass
class BillingRow:
    month: date
    organization_id: str
    organization_name: str
    organization_slug: str
    topups: int
    credits: int  # trial and plan credit
    revenue: int
    usage_refunds: int  # what staff gave back for a request (an adjustment tied to its job)
    released: int
    adjustments: int  # staff adjustments not tied to a request
    card_refunds: int  # refunds and disputes of card payments, less disputes won
    balance: int
    held: int


@dataclass
class BillingReport:
    rows: list[BillingRow]
    months: list[date]
    totals: dict[str, int] = field(default_factory=dict)


def _sum(expression, kind: str | list[str], **conditions):
    kinds = [kind] if isinstance(kind, str) else kind
    return Coalesce(Sum(expression, filter=Q(kind__in=kinds, **conditions)), 0)


def billing_report(*, month: date | None = None) -> BillingReport:
    """Per organization and calendar month (UTC): top-ups, trial and plan credit, revenue
    (captured holds), usage refunded by staff, released holds, other staff adjustments and card
    refunds and disputes, with each organization's current balance and held amount.

    Every figure is a sum over ledger rows, so it reconciles with the ledger by construction.
    """
    entries = LedgerEntry.objects.annotate(month=TruncMonth("created_at"))
    months = sorted({m.date() for m in entries.values_list("month", flat=True).distinct()}, reverse=True)
    if month is not None:
        entries = entries.filter(created_at__year=month.year, created_at__month=month.month)
    grouped = (
        entries.values("month", "organization_id")
        .annotate(
            topups=_sum("amount", Kind.TOPUP),
            credits=_sum("amount", [Kind.TRIAL, Kind.PLAN_CREDIT]),
            # Captures and releases are stored as negative amounts / held changes.
            revenue=_sum(-F("amount"), Kind.CAPTURE),
            usage_refunds=_sum("amount", Kind.ADJUSTMENT, job__isnull=False),
            released=_sum(-F("held_change"), Kind.RELEASE),
            adjustments=_sum("amount", Kind.ADJUSTMENT, job__isnull=True),
            card_refunds=_sum(-F("amount"), [Kind.REFUND, Kind.DISPUTE, Kind.DISPUTE_WON]),
        )
        .order_by("-month", "organization_id")
    )
    grouped = list(grouped)
    organizations = Organization.objects.in_bulk({row["organization_id"] for row in grouped})
    wallets = {w.organization_id: w for w in Wallet.objects.filter(organization_id__in=organizations)}
    rows = []
    for row in grouped:
        organization = organizations[row["organization_id"]]
        wallet = wallets.get(organization.id)
        rows.append(
            BillingRow(
                month=row["month"].date(),
                organization_id=str(organization.id),
                organization_name=organization.name,
                organization_slug=organization.slug,
                **{column: row[column] for column in MONEY_COLUMNS},
                balance=wallet.balance if wallet else 0,
                held=wallet.held if wallet else 0,
            )
        )
    rows.sort(key=lambda r: (-r.month.toordinal(), r.organization_name.lower()))
    totals = {column: sum(getattr(r, column) for r in rows) for column in MONEY_COLUMNS}
    # Balances are a point in time, not a flow: count each organization once.
    current = {r.organization_id: (r.balance, r.held) for r in rows}
    totals["balance"] = sum(b for b, _ in current.values())
    totals["held"] = sum(h for _, h in current.values())
    return BillingReport(rows=rows, months=months, totals=totals)


def organizations_overview():
    return (
        Organization.objects.select_related("plan", "wallet")
        .annotate(
            member_count=Count("memberships", distinct=True),
            in_flight=Count("jobs", filter=Q(jobs__status__in=Job.IN_FLIGHT), distinct=True),
        )
        .order_by("name")
    )


def recent_failures(limit: int = 10):
    """The latest jobs that ended in ERROR, with the operator's detail the customer never sees."""
    return (
        Job.objects.select_related("organization")
        .filter(status=Job.Status.ERROR)
        .only("id", "organization__name", "organization_id", "created_at", "completed_at", "error", "error_detail")
        .order_by("-completed_at")[:limit]
    )
