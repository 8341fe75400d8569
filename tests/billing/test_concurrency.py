"""Parallel submissions can never overdraw a wallet (one conditional UPDATE of the wallet row)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections, transaction

from billing.errors import InsufficientBalance
from billing.models import LedgerEntry, Wallet
from billing.services import holds_place, ledger_check
from jobs.models import Job
from tests.accounts.factories import OrganizationFactory

THREADS = 100
PRICE = 18
# PostgreSQL here allows 100 connections in all, shared with other test runs: the 100 threads
# start together but at most this many hold a connection at once, as a pool of web workers would.
MAX_CONNECTIONS = 24


def submit_one(
    org, barrier: threading.Barrier, pool: threading.BoundedSemaphore, outcomes: list, lock: threading.Lock
) -> None:
    """What job_submit does for one image: one transaction that inserts the job row and places
    its hold (the conditional UPDATE of the wallet); an InsufficientBalance rolls the job back too."""
    barrier.wait()
    with pool:
        _submit(org, outcomes, lock)


def _submit(org, outcomes: list, lock: threading.Lock) -> None:
    try:
        try:
            with transaction.atomic():
                job = Job.objects.create(organization=org, price=PRICE, params={})
                holds_place(jobs=[job], amounts=[PRICE])
            outcome = "accepted"
        except InsufficientBalance:
            outcome = "refused"
        except Exception as exc:  # surfaced in the assertion below
            outcome = f"error: {exc!r}"
        with lock:
            outcomes.append(outcome)
    finally:
        connections.close_all()  # this thread's own connection


@pytest.mark.django_db(transaction=True)
def test_a_hundred_parallel_holds_against_a_balance_for_ten_accept_exactly_ten():
    assert connection.vendor == "postgresql"
    org = OrganizationFactory(initial_credit=10 * PRICE + PRICE - 1)  # covers 10, not 11
    outcomes: list[str] = []
    barrier = threading.Barrier(THREADS)
    lock = threading.Lock()
    pool = threading.BoundedSemaphore(MAX_CONNECTIONS)
    threads = [threading.Thread(target=submit_one, args=(org, barrier, pool, outcomes, lock)) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(outcomes) == THREADS
    assert [o for o in outcomes if o.startswith("error")] == []
    assert outcomes.count("accepted") == 10
    assert outcomes.count("refused") == THREADS - 10

    wallet = Wallet.objects.get(organization=org)
    assert (wallet.balance, wallet.held) == (10 * PRICE + PRICE - 1, 10 * PRICE)
    assert wallet.available == PRICE - 1
    assert wallet.in_flight == 10
    assert Job.objects.filter(organization=org).count() == 10  # refused submissions left nothing
    assert LedgerEntry.objects.filter(organization=org, kind="hold").count() == 10
    assert ledger_check(organization=org) == []
