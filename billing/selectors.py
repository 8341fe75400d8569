"""Reads of wallets and the ledger. Every read takes the organization first."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import F, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from billing.models import BillingAccount, LedgerEntry, Payment, Plan, Wallet
from config.errors import NotFound


def wallet_for(organization) -> Wallet:
    return Wallet.objects.get(organization=organization)


def wallet_totals(organization) -> tuple[int, int, bool]:
    """(balance, held, in_debt), read without a lock (a hint for cheap early refusals).

    Key authentication loads the wallet with the key, milliseconds earlier in the same request:
    that copy is used when present (the hold under the lock is what guards the money)."""
    field = organization._meta.get_field("wallet")
    if field.is_cached(organization):
        wallet = field.get_cached_value(organization)
        return (0, 0, False) if wallet is None else (wallet.balance, wallet.held, wallet.in_debt)
    row = Wallet.objects.filter(organization=organization).values_list("balance", "held", "in_debt").first()
    return (0, 0, False) if row is None else row


def wallet_currency(organization) -> str:
    """The wallet's currency (the loaded copy when key authentication brought it)."""
    field = organization._meta.get_field("wallet")
    wallet = field.get_cached_value(organization) if field.is_cached(organization) else None
    if wallet is not None:
        return wallet.currency
    return Wallet.objects.filter(organization=organization).values_list("currency", flat=True).first() or "USD"


def wallet_currencies() -> dict[str, str]:
    """Each organization's wallet currency by organization id (for reports across tenants)."""
    return {str(org_id): currency for org_id, currency in Wallet.objects.values_list("organization_id", "currency")}


def one_currency(currencies) -> str:
    """The currency a total is in: the one all rows share, "mixed" if they differ."""
    found = set(currencies)
    return found.pop() if len(found) == 1 else ("mixed" if found else "USD")


def wallet_available(organization) -> int:
    """Balance minus held, read without a lock (a hint for cheap early refusals; the hold under
    the wallet lock is what guards the money)."""
    row = Wallet.objects.filter(organization=organization).values_list("balance", "held").first()
    return 0 if row is None else row[0] - row[1]


def wallet_for_update(organization) -> Wallet:
    """The organization's wallet, row-locked until the surrounding transaction ends.

    Every change of ``balance`` or ``held`` happens under this lock, which is what keeps parallel
    submissions from overdrawing. Call it inside ``transaction.atomic``.
    """
    return Wallet.objects.select_for_update().get(organization=organization)


def ledger_for(organization, *, kind: str | None = None, job=None) -> QuerySet[LedgerEntry]:
    """The organization's ledger, newest first."""
    entries = LedgerEntry.objects.filter(organization=organization).select_related("job", "created_by")
    if kind:
        entries = entries.filter(kind=kind)
    if job is not None:
        entries = entries.filter(job=job)
    return entries


def billing_account_for(organization) -> BillingAccount:
    """The organization's billing account, created on first use."""
    account, _ = BillingAccount.objects.get_or_create(organization=organization)
    return account


def plans_offered() -> QuerySet[Plan]:
    """Plans a customer may choose themselves, cheapest first."""
    return Plan.objects.filter(is_public=True).order_by("position", "monthly_price", "id")


def payments_for(organization) -> QuerySet[Payment]:
    return Payment.objects.filter(organization=organization).select_related("ledger_entry")


def payment_get(*, organization, payment_id) -> Payment:
    """One of the organization's payments; another tenant's is a 404."""
    payment = payments_for(organization).filter(id=payment_id).first()
    if payment is None:
        raise NotFound("No such payment.")
    return payment


def job_refund_state(organization, job) -> tuple[int, LedgerEntry | None]:
    """What refunding ``job`` would give back (its capture; 0 when nothing was charged) and the
    refund already booked for it, if any."""
    from billing.services import refund_key

    kinds = LedgerEntry.Kind
    capture, refund = None, None
    for entry in LedgerEntry.objects.filter(
        organization=organization, job_id=job.id, kind__in=[kinds.CAPTURE, kinds.ADJUSTMENT]
    ):
        if entry.kind == kinds.CAPTURE:
            capture = entry
        elif entry.idempotency_key == refund_key(job):
            refund = entry
    return (-capture.amount if capture else 0), refund


# --- What a request cost ------------------------------------------------------------------------

# A staff refund of a request is an adjustment tied to its job (billing.services.job_refund).
_CAPTURES = Q(kind=LedgerEntry.Kind.CAPTURE)
REQUEST_REFUNDS = Q(kind=LedgerEntry.Kind.ADJUSTMENT, job__isnull=False, amount__gt=0)


@dataclass(frozen=True)
class JobCharge:
    """What a request was charged (its captures) and what our staff gave back for it (refund
    adjustments), both positive minor units of ``currency``."""

    charged: int
    refunded: int
    currency: str


def _job_sum(condition: Q, sign: int):
    rows = (
        LedgerEntry.objects.filter(condition, job=OuterRef("pk"))
        .values("job")
        .annotate(total=Sum(F("amount") * sign))
        .values("total")
    )
    return Coalesce(Subquery(rows[:1]), 0)


def with_job_charges(jobs):
    """Annotate what each job was charged and refunded (and its wallet's currency), so a page of
    jobs reads them in its own query (``job_charge`` then costs none)."""
    currency = Wallet.objects.filter(organization_id=OuterRef("organization_id")).values("currency")[:1]
    return jobs.annotate(
        charged_total=_job_sum(_CAPTURES, -1),
        refunded_total=_job_sum(REQUEST_REFUNDS, 1),
        charge_currency=Coalesce(Subquery(currency), Value("USD")),
    )


def job_charge(job) -> JobCharge:
    """The job's charge and refund, from ``with_job_charges``'s annotations when present.

    Otherwise from the job: a COMPLETED job was charged its price (the capture is written in the
    transaction that completes it, at ``job.price``), any other was charged nothing, and only a
    completed one can have been refunded: one query, for a completed job's refunds, and none
    for a job in flight (what a poll mostly reads)."""
    if hasattr(job, "charged_total"):
        return JobCharge(job.charged_total, job.refunded_total, job.charge_currency)
    currency = wallet_currency(job.organization)
    if job.status != job.Status.COMPLETED:
        return JobCharge(0, 0, currency)
    refunded = LedgerEntry.objects.filter(REQUEST_REFUNDS, job_id=job.pk).aggregate(total=Sum("amount"))["total"]
    return JobCharge(job.price, refunded or 0, currency)
