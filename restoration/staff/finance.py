"""The staff's finance report over a chosen period: money per day and per organization, usage,
liability, failed payments, top organizations and margin per image.

Money columns are sums of ledger rows by kind, so the per-day rows, the per-organization rows
and the CSV all add up to the ledger's own totals for the period. Cash in and failed payments
come from Payment rows (what Stripe took or tried to take), usage from COMPLETED jobs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from django.conf import settings
from django.db.models import Count, DurationField, ExpressionWrapper, F, Q, Sum
from django.db.models.functions import Coalesce, TruncDate

from accounts.models import Organization
from billing.models import LedgerEntry, Payment
from billing.selectors import one_currency, wallet_currencies
from jobs.models import Job

Kind = LedgerEntry.Kind
# Column -> the ledger rows it sums; captures, card refunds and disputes are stored negative and
# shown as positive flows. A staff adjustment tied to a request is that request's refund (usage
# refunded); one tied to none is an adjustment.
LEDGER_COLUMNS = {
    "topups": Q(kind=Kind.TOPUP),
    "plan_credit": Q(kind=Kind.PLAN_CREDIT),
    "trial_credit": Q(kind=Kind.TRIAL),
    "usage_revenue": Q(kind=Kind.CAPTURE),
    "usage_refunds": Q(kind=Kind.ADJUSTMENT, job__isnull=False),
    "refunds": Q(kind=Kind.REFUND),
    "disputes": Q(kind=Kind.DISPUTE),
    "disputes_won": Q(kind=Kind.DISPUTE_WON),
    "adjustments": Q(kind=Kind.ADJUSTMENT, job__isnull=True),
}
NEGATED = {"usage_revenue", "refunds", "disputes"}
USAGE_COLUMNS = ("images", "megapixels", "gpu_seconds")


@dataclass
class Row:
    key: str  # a day (YYYY-MM-DD) or an organization id
    label: str
    money: dict[str, int] = field(default_factory=dict)
    usage: dict[str, float] = field(default_factory=dict)
    cash_in: int = 0
    failed_payments: int = 0


@dataclass
class FinanceReport:
    start: date
    end: date  # inclusive
    days: list[Row]
    organizations: list[Row]
    totals: dict
    liability_now: int
    liability_at_end: int
    gpu_cost_per_second: float
    organization: object = None  # the organization the report is narrowed to, if any

    @property
    def active_days(self) -> list[Row]:
        """The days with any money, payment or usage (the per-day table; the charts keep them all)."""
        return [
            day
            for day in self.days
            if any(day.money.values()) or day.cash_in or day.failed_payments or day.usage.get("images")
        ]

    @property
    def top_organizations(self) -> list[Row]:
        return sorted(self.organizations, key=lambda r: -r.money["usage_revenue"])[:10]

    @property
    def margin_per_image(self) -> float | None:
        images = self.totals["images"]
        if not self.gpu_cost_per_second or not images:
            return None
        cost = self.totals["gpu_seconds"] * self.gpu_cost_per_second
        return (self.net_usage_revenue - cost) / images

    @property
    def net_usage_revenue(self) -> int:
        """What usage earned: captured holds less what staff refunded for requests."""
        return self.totals["usage_revenue"] - self.totals["usage_refunds"]

    @property
    def net_ledger(self) -> int:
        """What the period added to the wallets: sum of every ledger amount in it."""
        return self.totals["ledger_amount"]


def _bounds(start: date, end: date) -> tuple[datetime, datetime]:
    return datetime.combine(start, time.min, tzinfo=UTC), datetime.combine(
        end + timedelta(days=1), time.min, tzinfo=UTC
    )


def _key(row: dict, group: str | tuple[str, ...]):
    """A grouped row's key: the text of its group value, or a tuple of them for several."""
    if isinstance(group, str):
        return str(row[group])
    return tuple(str(row[name]) for name in group)


def _fields(group: str | tuple[str, ...]) -> tuple[str, ...]:
    return (group,) if isinstance(group, str) else group


def _ledger_sums(entries, group: str | tuple[str, ...]) -> dict:
    sums = {
        column: Coalesce(Sum(-F("amount") if column in NEGATED else F("amount"), filter=rows), 0)
        for column, rows in LEDGER_COLUMNS.items()
    }
    sums["ledger_amount"] = Coalesce(Sum("amount"), 0)
    fields = _fields(group)
    return {_key(row, group): row for row in entries.values(*fields).annotate(**sums).order_by(*fields)}


def _usage(jobs, group: str | tuple[str, ...]) -> dict:
    seconds = ExpressionWrapper(F("completed_at") - F("started_at"), output_field=DurationField())
    rows = jobs.values(*_fields(group)).annotate(
        images=Count("id"),
        pixels=Coalesce(Sum(F("output_width") * F("output_height")), 0),
        busy=Sum(seconds),
    )
    result = {}
    for row in rows:
        busy = row["busy"]
        result[_key(row, group)] = {
            "images": row["images"],
            "megapixels": round(row["pixels"] / 1_000_000, 2),
            "gpu_seconds": round(busy.total_seconds(), 1) if busy else 0.0,
        }
    return result


def _payments(payments, group: str | tuple[str, ...]) -> dict:
    rows = payments.values(*_fields(group)).annotate(
        cash_in=Coalesce(Sum("amount", filter=Q(status=Payment.Status.SUCCEEDED)), 0),
        failed=Coalesce(Sum("amount", filter=Q(status=Payment.Status.FAILED)), 0),
    )
    return {_key(row, group): row for row in rows}


def _row(key: str, label: str, money: dict | None, usage: dict | None, pay: dict | None) -> Row:
    money = money or {}
    return Row(
        key=key,
        label=label,
        money={column: money.get(column, 0) for column in [*LEDGER_COLUMNS, "ledger_amount"]},
        usage={column: (usage or {}).get(column, 0) for column in USAGE_COLUMNS},
        cash_in=(pay or {}).get("cash_in", 0),
        failed_payments=(pay or {}).get("failed", 0),
    )


def finance_report(*, start: date, end: date, organization=None) -> FinanceReport:
    entries, jobs, payments = _period_rows(start, end, organization)
    day_money = _ledger_sums(entries.annotate(day=TruncDate("created_at", tzinfo=UTC)), "day")
    day_usage = _usage(jobs.annotate(day=TruncDate("completed_at", tzinfo=UTC)), "day")
    day_pay = _payments(payments.annotate(day=TruncDate(Coalesce("paid_at", "created_at"), tzinfo=UTC)), "day")
    days = []
    current = start
    while current <= end:
        key = current.isoformat()
        days.append(_row(key, key, day_money.get(key), day_usage.get(key), day_pay.get(key)))
        current += timedelta(days=1)
    org_money = _ledger_sums(entries, "organization_id")
    org_usage = _usage(jobs, "organization_id")
    org_pay = _payments(payments, "organization_id")
    ids = set(org_money) | set(org_usage) | set(org_pay)
    names = {str(o.id): o.name for o in Organization.objects.filter(id__in=ids)}
    organizations = sorted(
        (_row(i, names.get(i, i), org_money.get(i), org_usage.get(i), org_pay.get(i)) for i in ids),
        key=lambda r: r.label.lower(),
    )
    totals: dict = {column: sum(r.money[column] for r in days) for column in [*LEDGER_COLUMNS, "ledger_amount"]}
    totals.update({column: round(sum(r.usage[column] for r in days), 2) for column in USAGE_COLUMNS})
    totals["cash_in"] = sum(r.cash_in for r in days)
    totals["failed_payments"] = sum(r.failed_payments for r in days)
    return FinanceReport(
        start=start,
        end=end,
        days=days,
        organizations=organizations,
        totals=totals,
        liability_now=_liability(organization=organization),
        liability_at_end=_liability(organization=organization, before=_bounds(start, end)[1]),
        gpu_cost_per_second=settings.GPU_COST_PER_SECOND,
        organization=organization,
    )


def _period_rows(start: date, end: date, organization=None):
    """The ledger entries, completed jobs and payments of the period (one organization's, if given)."""
    since, until = _bounds(start, end)
    entries = LedgerEntry.objects.filter(created_at__gte=since, created_at__lt=until)
    jobs = Job.objects.filter(status=Job.Status.COMPLETED, completed_at__gte=since, completed_at__lt=until)
    payments = Payment.objects.filter(
        Q(paid_at__gte=since, paid_at__lt=until) | Q(paid_at__isnull=True, created_at__gte=since, created_at__lt=until)
    )
    if organization is not None:
        entries, jobs = entries.filter(organization=organization), jobs.filter(organization=organization)
        payments = payments.filter(organization=organization)
    return entries, jobs, payments


def _liability(*, organization=None, before: datetime | None = None) -> int:
    """Prepaid money owed to customers: the positive balances (a wallet in debt owes us instead)."""
    entries = LedgerEntry.objects.all()
    if organization is not None:
        entries = entries.filter(organization=organization)
    if before is not None:
        entries = entries.filter(created_at__lt=before)
    balances = entries.values("wallet_id").annotate(balance=Sum("amount")).values_list("balance", flat=True)
    return sum(b for b in balances if b > 0)


# Money in minor units (cents) of the row's currency, as the ledger keeps it; "refunds" are
# card refunds there, beside usage_refunds (what staff gave back for a request).
CSV_NAMES = {"refunds": "card_refunds"}
CSV_HEADER = [
    "day",
    "organization_id",
    "organization",
    "currency",
    *(
        f"{CSV_NAMES.get(column, column)}_minor"
        for column in (*LEDGER_COLUMNS, "ledger_amount", "cash_in", "failed_payments")
    ),
    *USAGE_COLUMNS,
]


def finance_csv_rows(report: FinanceReport) -> list[list]:
    """One row per organization per day with activity, then a total row. The money columns of
    the rows add up to the total row, which equals the ledger's sums for the period."""
    entries, jobs, payments = _period_rows(report.start, report.end, report.organization)
    groups = ("day", "organization_id")
    money = _ledger_sums(entries.annotate(day=TruncDate("created_at", tzinfo=UTC)), groups)
    usage = _usage(jobs.annotate(day=TruncDate("completed_at", tzinfo=UTC)), groups)
    pay = _payments(payments.annotate(day=TruncDate(Coalesce("paid_at", "created_at"), tzinfo=UTC)), groups)
    names = {str(o.id): o.name for o in Organization.objects.all()}
    currencies = wallet_currencies()
    out = []
    for key in sorted(set(money) | set(usage) | set(pay)):
        day, org_id = key
        row = _row(day, names.get(org_id, ""), money.get(key), usage.get(key), pay.get(key))
        out.append(
            [day, org_id, row.label, currencies.get(org_id, "USD")]
            + [row.money[c] for c in LEDGER_COLUMNS]
            + [row.money["ledger_amount"], row.cash_in, row.failed_payments]
            + [row.usage[c] for c in USAGE_COLUMNS]
        )
    t = report.totals
    out.append(
        ["total", "", "", one_currency(row[3] for row in out)]
        + [t[c] for c in LEDGER_COLUMNS]
        + [t["ledger_amount"], t["cash_in"], t["failed_payments"]]
        + [t[c] for c in USAGE_COLUMNS]
    )
    return out
