"""Reconciliation: prove the money adds up, and list every place where it does not.

Per wallet: balance = sum of its ledger; held = sum of held changes = sum of open holds = price
of its jobs in flight; each COMPLETED job captured exactly its price, each ended one released
it; captures = price of COMPLETED jobs. Per Stripe payment: a paid payment that added credit is
in the ledger exactly once, for that credit, and every Stripe ledger entry has its payment.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from django.db.models import Count, F, Q, Sum

from billing.models import LedgerEntry, Payment, Wallet
from billing.services import ledger_check
from jobs.models import Job

Kind = LedgerEntry.Kind
# Ledger keys of money that came from Stripe; each must belong to one Payment.
STRIPE_CREDIT_PREFIXES = ("stripe:checkout:", "stripe:invoice:", "stripe:pi:")
ENDED_WITHOUT_CHARGE = (Job.Status.FAILED, Job.Status.ERROR, Job.Status.CANCELED)


@dataclass(frozen=True)
class Difference:
    organization: str
    check: str
    detail: str

    def __str__(self) -> str:
        return f"{self.organization}: {self.check}: {self.detail}"


def reconcile(*, organization=None) -> list[Difference]:
    wallets = Wallet.objects.select_related("organization").order_by("id")
    if organization is not None:
        wallets = wallets.filter(organization=organization)
    differences = [
        Difference(line.split(":")[0], "ledger", line.split(": ", 1)[-1])
        for line in ledger_check(organization=organization)
    ]
    for wallet in wallets:
        differences.extend(_job_differences(wallet))
        differences.extend(_payment_differences(wallet))
    return differences


def _job_differences(wallet: Wallet) -> list[Difference]:
    name = wallet.organization.slug
    jobs = Job.objects.filter(organization_id=wallet.organization_id)
    found = []
    in_flight = jobs.filter(status__in=Job.IN_FLIGHT).aggregate(s=Sum("price"))["s"] or 0
    if wallet.held != in_flight:
        found.append(
            Difference(name, "held = jobs in flight", f"held {wallet.held} != price of jobs in flight {in_flight}")
        )
    entries = LedgerEntry.objects.filter(wallet=wallet, job__isnull=False)
    captured = -(entries.filter(kind=Kind.CAPTURE).aggregate(s=Sum("amount"))["s"] or 0)
    completed = jobs.filter(status=Job.Status.COMPLETED).aggregate(s=Sum("price"))["s"] or 0
    if captured != completed:
        found.append(
            Difference(name, "captures = completed jobs", f"captured {captured} != price of COMPLETED jobs {completed}")
        )
    per_job = (
        jobs.annotate(
            holds=Count("ledger_entries", filter=Q(ledger_entries__kind=Kind.HOLD)),
            held=Sum("ledger_entries__held_change", filter=Q(ledger_entries__kind=Kind.HOLD)),
            captures=Count("ledger_entries", filter=Q(ledger_entries__kind=Kind.CAPTURE)),
            captured=Sum("ledger_entries__amount", filter=Q(ledger_entries__kind=Kind.CAPTURE)),
            releases=Count("ledger_entries", filter=Q(ledger_entries__kind=Kind.RELEASE)),
        )
        .exclude(
            # What a sound job looks like: one hold of its price, then nothing while in flight,
            # one capture of its price when COMPLETED, one release when it ended otherwise.
            Q(holds=1, held=F("price"), status__in=Job.IN_FLIGHT, captures=0, releases=0)
            # A job delivered at less than was asked captures its (lowered) price, not the hold.
            | Q(holds=1, captured=-F("price"), status=Job.Status.COMPLETED, captures=1, releases=0)
            | Q(holds=1, held=F("price"), status__in=ENDED_WITHOUT_CHARGE, captures=0, releases=1)
        )
        .values("id", "status", "price", "holds", "captures", "releases")
    )
    for row in per_job[:50]:
        found.append(
            Difference(
                name,
                "job settled once",
                f"job {row['id']} {row['status']} price {row['price']}: {row['holds']} hold(s), "
                f"{row['captures']} capture(s), {row['releases']} release(s)",
            )
        )
    return found


def _payment_differences(wallet: Wallet) -> list[Difference]:
    name = wallet.organization.slug
    found = []
    payments = Payment.objects.filter(organization_id=wallet.organization_id)
    for payment in payments.filter(status=Payment.Status.SUCCEEDED, credit__gt=0).select_related("ledger_entry"):
        entry = payment.ledger_entry
        if entry is None:
            found.append(
                Difference(
                    name, "payment in the ledger", f"paid {payment.number} ({payment.credit}) has no ledger entry"
                )
            )
        elif entry.amount != payment.credit or entry.wallet_id != wallet.id:
            found.append(
                Difference(
                    name, "payment in the ledger", f"{payment.number} credit {payment.credit} != entry {entry.amount}"
                )
            )
    for payment in payments.exclude(status=Payment.Status.SUCCEEDED).filter(ledger_entry__isnull=False):
        found.append(Difference(name, "payment in the ledger", f"{payment.number} is {payment.status} but credited"))
    stripe_entries = LedgerEntry.objects.filter(wallet=wallet).filter(
        Q(idempotency_key__startswith=STRIPE_CREDIT_PREFIXES[0])
        | Q(idempotency_key__startswith=STRIPE_CREDIT_PREFIXES[1])
        | Q(idempotency_key__startswith=STRIPE_CREDIT_PREFIXES[2])
    )
    linked = Counter(payments.filter(ledger_entry__isnull=False).values_list("ledger_entry_id", flat=True))
    for entry in stripe_entries:
        if linked[entry.id] != 1:
            found.append(
                Difference(
                    name,
                    "payment in the ledger",
                    f"entry {entry.idempotency_key} belongs to {linked[entry.id]} payments",
                )
            )
    return found
