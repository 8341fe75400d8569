"""Reads of wallets and the ledger. Every read takes the organization first."""

from __future__ import annotations

from django.db.models import QuerySet

from billing.models import LedgerEntry, Wallet


def wallet_for(organization) -> Wallet:
    return Wallet.objects.get(organization=organization)


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
