"""Operator commands for wallets and the ledger check."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from billing.models import LedgerEntry, Wallet
from tests.accounts.factories import OrganizationFactory


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


@pytest.fixture
def acme(db):
    return OrganizationFactory(slug="acme", initial_credit=100)


def balance(org) -> int:
    return Wallet.objects.get(organization=org).balance


def test_topup_with_an_idempotency_key_tops_up_once(acme):
    run("topup", "acme", "500", "--idempotency-key", "invoice-42")
    run("topup", "acme", "500", "--idempotency-key", "invoice-42")
    assert balance(acme) == 600
    assert LedgerEntry.objects.filter(idempotency_key="invoice-42").count() == 1


def test_topup_without_a_key_uses_a_fresh_one_each_time(acme):
    run("topup", "acme", "5")
    run("topup", "acme", "5")
    assert balance(acme) == 110
    assert LedgerEntry.objects.filter(organization=acme, kind="topup").count() == 3


def test_topup_rejects_a_non_positive_amount(acme):
    with pytest.raises(CommandError):
        run("topup", "acme", "0")
    assert balance(acme) == 100


def test_adjust_wallet_takes_a_signed_amount_and_requires_a_reason(acme):
    run("adjust_wallet", "acme", "-30", "--reason", "chargeback", "--idempotency-key", "adj-1")
    run("adjust_wallet", "acme", "-30", "--reason", "chargeback", "--idempotency-key", "adj-1")
    assert balance(acme) == 70
    entry = LedgerEntry.objects.get(idempotency_key="adj-1")
    assert (entry.kind, entry.amount, entry.description) == ("adjustment", -30, "chargeback")
    with pytest.raises(CommandError):
        run("adjust_wallet", "acme", "10")  # no --reason
    with pytest.raises(CommandError):
        run("adjust_wallet", "acme", "-71", "--reason", "more than there is")
    assert balance(acme) == 70


def test_check_ledger_passes_on_sound_wallets(acme):
    OrganizationFactory(initial_credit=7)
    assert "Ledger OK" in run("check_ledger")


@pytest.mark.ledger_discrepancy
def test_check_ledger_exits_non_zero_and_prints_a_tampered_wallet(acme):
    OrganizationFactory(slug="innocent", initial_credit=7)
    Wallet.objects.filter(organization=acme).update(balance=999)
    out = StringIO()
    with pytest.raises(CommandError) as caught:
        call_command("check_ledger", stdout=out)
    assert str(caught.value) == "2 ledger discrepancies found."  # the sum and the last running total
    printed = out.getvalue()
    assert "acme" in printed and "balance 999 != sum of ledger amounts 100" in printed
    assert "wallet row says 999/0" in printed
    assert "innocent" not in printed
    assert "Ledger OK" in run("check_ledger", "--organization", "innocent")


@pytest.mark.django_db(transaction=True)
def test_check_ledger_as_a_process_exits_1_on_a_discrepancy_and_0_once_repaired():
    """The exit status is what cron and CI see: run the real manage.py against the test database."""
    import os
    import subprocess
    import sys

    from django.db import connection

    org = OrganizationFactory(slug="acme", initial_credit=100)
    Wallet.objects.filter(organization=org).update(balance=999)
    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings_test",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
    }

    def check_ledger():
        return subprocess.run(
            [sys.executable, "manage.py", "check_ledger"], env=env, capture_output=True, text=True, timeout=120
        )

    broken = check_ledger()
    assert broken.returncode == 1, broken.stderr
    assert "balance 999 != sum of ledger amounts 100" in broken.stdout

    Wallet.objects.filter(organization=org).update(balance=100)
    repaired = check_ledger()
    assert repaired.returncode == 0, repaired.stderr
    assert "Ledger OK" in repaired.stdout
