"""Wallet movements: every one is a ledger entry, the wallet equals the sum of its ledger, holds
are settled exactly once, and idempotency keys make retries harmless."""

from __future__ import annotations

import pytest
from django.db import transaction

from billing.errors import IdempotencyKeyReused, InsufficientBalance, InvalidAmount, TooManyJobsInFlight
from billing.models import LedgerEntry, Wallet
from billing.services import (
    hold_capture,
    hold_place,
    hold_release,
    holds_place,
    ledger_check,
    wallet_adjust,
    wallet_topup,
)
from tests.billing.conftest import make_job

# Ledger-level tests: they settle bare job rows whose status never moves, and some tamper with
# wallets on purpose; the job-level reconciliation after each test does not apply to them.
pytestmark = pytest.mark.ledger_discrepancy


def wallet_of(org) -> Wallet:
    return Wallet.objects.get(organization=org)


def place(org, job, amount):
    assert job.organization_id == org.id
    with transaction.atomic():
        return hold_place(job=job, amount=amount)


def assert_wallet_matches_ledger(org):
    wallet = wallet_of(org)
    entries = LedgerEntry.objects.filter(wallet=wallet)
    assert wallet.balance == sum(e.amount for e in entries)
    assert wallet.held == sum(e.held_change for e in entries)
    assert ledger_check(organization=org) == []


def test_a_topup_adds_to_the_balance_through_one_entry(org):
    entry = wallet_topup(organization=org, amount=250, idempotency_key="stripe:cs_1", description="Stripe")
    assert (entry.kind, entry.amount, entry.held_change, entry.balance_after, entry.held_after) == (
        "topup",
        250,
        0,
        350,
        0,
    )
    assert wallet_of(org).balance == 350
    assert_wallet_matches_ledger(org)


@pytest.mark.parametrize("amount", [0, -5, 1.5, True])
def test_a_topup_must_be_a_positive_integer(org, amount):
    with pytest.raises(InvalidAmount):
        wallet_topup(organization=org, amount=amount, idempotency_key=f"bad:{amount!r}")
    assert wallet_of(org).balance == 100


def test_the_same_idempotency_key_twice_returns_the_first_entry_and_moves_money_once(org):
    first = wallet_topup(organization=org, amount=50, idempotency_key="retry-me")
    second = wallet_topup(organization=org, amount=50, idempotency_key="retry-me")
    assert second.pk == first.pk
    assert LedgerEntry.objects.filter(idempotency_key="retry-me").count() == 1
    assert wallet_of(org).balance == 150
    assert_wallet_matches_ledger(org)


def test_an_idempotency_key_of_another_wallet_is_refused_not_returned(org, outsider_org):
    wallet_topup(organization=org, amount=50, idempotency_key="shared-key")
    with pytest.raises(IdempotencyKeyReused):
        wallet_topup(organization=outsider_org, amount=50, idempotency_key="shared-key")
    assert wallet_of(outsider_org).balance == 100


def test_a_hold_reserves_without_moving_the_balance_and_a_capture_charges_it(org):
    job = make_job(org, price=30)
    hold = place(org, job, 30)
    assert (hold.kind, hold.amount, hold.held_change, hold.idempotency_key) == ("hold", 0, 30, f"job:{job.id}:hold")
    wallet = wallet_of(org)
    assert (wallet.balance, wallet.held, wallet.available) == (100, 30, 70)
    assert_wallet_matches_ledger(org)

    capture = hold_capture(job=job)
    assert (capture.kind, capture.amount, capture.held_change) == ("capture", -30, -30)
    wallet = wallet_of(org)
    assert (wallet.balance, wallet.held) == (70, 0)
    assert_wallet_matches_ledger(org)


def test_a_release_gives_the_hold_back(org):
    job = make_job(org, price=30)
    place(org, job, 30)
    release = hold_release(job=job, reason="ERROR: worker crashed")
    assert (release.kind, release.amount, release.held_change) == ("release", 0, -30)
    assert "worker crashed" in release.description
    wallet = wallet_of(org)
    assert (wallet.balance, wallet.held) == (100, 0)
    assert_wallet_matches_ledger(org)


def test_capture_and_release_are_idempotent_and_mutually_exclusive(org):
    captured, released = make_job(org), make_job(org)
    place(org, captured, 10)
    place(org, released, 20)

    assert hold_capture(job=captured) is not None
    assert hold_capture(job=captured) is None
    assert hold_release(job=captured) is None  # already captured: nothing to release

    assert hold_release(job=released) is not None
    assert hold_release(job=released) is None
    assert hold_capture(job=released) is None  # already released: nothing to charge

    wallet = wallet_of(org)
    assert (wallet.balance, wallet.held) == (90, 0)
    assert LedgerEntry.objects.filter(job=captured).count() == 2
    assert LedgerEntry.objects.filter(job=released).count() == 2
    assert_wallet_matches_ledger(org)


def test_settling_a_job_that_was_never_held_does_nothing(org):
    job = make_job(org)
    assert hold_capture(job=job) is None
    assert hold_release(job=job) is None
    assert LedgerEntry.objects.filter(organization=org).count() == 1


def test_placing_the_same_jobs_hold_twice_holds_once(org):
    job = make_job(org)
    first = place(org, job, 10)
    second = place(org, job, 10)
    assert first.pk == second.pk
    assert wallet_of(org).held == 10


def test_a_hold_larger_than_the_available_balance_is_402_and_writes_nothing(org):
    place(org, make_job(org), 80)
    short = make_job(org)
    with pytest.raises(InsufficientBalance) as caught:
        place(org, short, 21)
    assert caught.value.status_code == 402
    assert caught.value.title == "Insufficient Balance"
    assert caught.value.message == "Your wallet does not have enough balance."
    assert not LedgerEntry.objects.filter(job=short).exists()
    place(org, short, 20)  # exactly the available balance is fine
    assert wallet_of(org).available == 0
    assert_wallet_matches_ledger(org)


@pytest.mark.django_db(transaction=True)
def test_hold_place_refuses_to_run_outside_the_transaction_that_made_the_job(org):
    with pytest.raises(RuntimeError):
        hold_place(job=make_job(org), amount=10)


def test_one_call_cannot_hold_for_jobs_of_two_organizations(org, outsider_org):
    with pytest.raises(ValueError), transaction.atomic():
        holds_place(jobs=[make_job(org), make_job(outsider_org)], amounts=[10] * 2)
    assert wallet_of(org).held == wallet_of(outsider_org).held == 0


def test_holds_for_several_jobs_are_one_move_with_running_totals(org):
    jobs = [make_job(org) for _ in range(3)]
    with transaction.atomic():
        entries = holds_place(jobs=jobs, amounts=[20, 20, 25], max_in_flight=3)
    assert [(e.held_change, e.balance_after, e.held_after) for e in entries] == [
        (20, 100, 20),
        (20, 100, 40),
        (25, 100, 65),
    ]
    wallet = wallet_of(org)
    assert (wallet.held, wallet.in_flight) == (65, 3)
    assert_wallet_matches_ledger(org)


def test_past_the_cap_on_jobs_in_flight_it_is_429_before_402_and_nothing_moves(org):
    place(org, make_job(org), 10)
    with pytest.raises(TooManyJobsInFlight) as caught, transaction.atomic():
        holds_place(jobs=[make_job(org), make_job(org)], amounts=[10] * 2, max_in_flight=2)
    assert (caught.value.limit, caught.value.in_flight) == (2, 1)
    # Over the cap and over the balance at once: the cap is named, as before.
    with pytest.raises(TooManyJobsInFlight), transaction.atomic():
        holds_place(jobs=[make_job(org), make_job(org)], amounts=[1000] * 2, max_in_flight=2)
    with pytest.raises(InsufficientBalance), transaction.atomic():
        holds_place(jobs=[make_job(org)], amounts=[1000], max_in_flight=2)
    wallet = wallet_of(org)
    assert (wallet.held, wallet.in_flight) == (10, 1)
    assert_wallet_matches_ledger(org)


def test_settling_takes_the_job_out_of_the_in_flight_count_once(org):
    captured, released = make_job(org), make_job(org)
    place(org, captured, 10)
    place(org, released, 10)
    assert wallet_of(org).in_flight == 2
    hold_capture(job=captured)
    hold_capture(job=captured)
    hold_release(job=released)
    hold_release(job=captured)
    assert wallet_of(org).in_flight == 0
    assert_wallet_matches_ledger(org)


def test_the_database_refuses_a_second_settlement_of_one_job(org):
    from django.db import IntegrityError

    job = make_job(org)
    place(org, job, 10)
    hold_capture(job=job)
    wallet = wallet_of(org)
    with pytest.raises(IntegrityError), transaction.atomic():
        LedgerEntry.objects.create(
            wallet=wallet,
            organization=org,
            kind="release",
            amount=0,
            held_change=-10,
            balance_after=90,
            held_after=-10,
            idempotency_key="sneaky",
            job=job,
        )


def test_without_update_returning_the_same_moves_are_made(org, monkeypatch):
    """The path for databases without UPDATE ... RETURNING (SQLite before 3.35)."""
    from django.db import connection

    monkeypatch.setattr(connection.features, "can_return_rows_from_update", False)
    jobs = [make_job(org), make_job(org)]
    with transaction.atomic():
        entries = holds_place(jobs=jobs, amounts=[30] * len(jobs), max_in_flight=2)
    assert [e.held_after for e in entries] == [30, 60]
    with pytest.raises(InsufficientBalance), transaction.atomic():
        holds_place(jobs=[make_job(org)], amounts=[41])
    with pytest.raises(TooManyJobsInFlight), transaction.atomic():
        holds_place(jobs=[make_job(org)], amounts=[1], max_in_flight=2)
    hold_capture(job=jobs[0])
    hold_release(job=jobs[1])
    wallet = wallet_of(org)
    assert (wallet.balance, wallet.held, wallet.in_flight) == (70, 0, 0)
    assert_wallet_matches_ledger(org)


def test_adjustments_are_signed_need_a_reason_and_never_touch_held_money(org):
    job = make_job(org)
    place(org, job, 60)
    wallet_adjust(organization=org, amount=-40, idempotency_key="adj-1", description="chargeback")
    assert wallet_of(org).balance == 60
    with pytest.raises(InsufficientBalance):
        wallet_adjust(organization=org, amount=-1, idempotency_key="adj-2", description="too much")
    with pytest.raises(InvalidAmount):
        wallet_adjust(organization=org, amount=5, idempotency_key="adj-3", description="  ")
    with pytest.raises(InvalidAmount):
        wallet_adjust(organization=org, amount=0, idempotency_key="adj-4", description="nothing")
    entry = wallet_adjust(organization=org, amount=15, idempotency_key="adj-5", description="goodwill")
    assert (entry.kind, entry.amount, entry.balance_after, entry.held_after) == ("adjustment", 15, 75, 60)
    assert wallet_adjust(organization=org, amount=15, idempotency_key="adj-5", description="goodwill").pk == entry.pk
    hold_capture(job=job)
    assert (wallet_of(org).balance, wallet_of(org).held) == (15, 0)
    assert_wallet_matches_ledger(org)


def test_the_wallet_equals_its_ledger_after_a_mixed_history(org, outsider_org):
    jobs = [make_job(org) for _ in range(5)]
    wallet_topup(organization=org, amount=500, idempotency_key="t1")
    for job in jobs:
        place(org, job, 35)
    hold_capture(job=jobs[0])
    hold_capture(job=jobs[1])
    hold_release(job=jobs[2])
    wallet_adjust(organization=org, amount=-25, idempotency_key="a1", description="correction")
    place(outsider_org, make_job(outsider_org), 50)

    wallet = wallet_of(org)
    assert (wallet.balance, wallet.held) == (100 + 500 - 70 - 25, 70)
    assert_wallet_matches_ledger(org)
    assert_wallet_matches_ledger(outsider_org)
    assert ledger_check() == []


def test_the_database_refuses_a_wallet_row_whose_holds_exceed_its_balance(org):
    from django.db import IntegrityError

    with pytest.raises(IntegrityError), transaction.atomic():
        Wallet.objects.filter(organization=org).update(held=101)


def test_ledger_check_reports_a_tampered_wallet_row(org, outsider_org):
    place(org, make_job(org), 10)
    Wallet.objects.filter(organization=org).update(balance=1000)
    problems = ledger_check()
    assert any("balance 1000 != sum of ledger amounts 100" in p for p in problems)
    assert all(org.slug in p for p in problems)
    assert ledger_check(organization=outsider_org) == []

    Wallet.objects.filter(organization=org).update(balance=100, held=0)
    problems = ledger_check(organization=org)
    assert any("held 0 != sum of ledger held changes 10" in p for p in problems)
    assert any("held 0 != sum of open holds 10" in p for p in problems)


def test_ledger_check_reports_an_entry_whose_hold_was_never_reflected_on_the_row(org):
    # An entry written behind the service's back: the sums agree with nothing on the row.
    wallet = wallet_of(org)
    LedgerEntry.objects.create(
        wallet=wallet,
        organization=org,
        kind="adjustment",
        amount=7,
        balance_after=107,
        held_after=0,
        idempotency_key="rogue",
    )
    problems = ledger_check(organization=org)
    assert any("balance 100 != sum of ledger amounts 107" in p for p in problems)
    assert any("last entry rogue" in p for p in problems)
