"""Reconciliation finds planted discrepancies of every kind and passes a sound history."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from billing.models import LedgerEntry, Payment, Wallet
from billing.reconcile import reconcile
from billing.services import wallet_topup
from jobs.models import Job
from jobs.services import job_cancel, job_submit
from tests.accounts.factories import UserFactory
from tests.jobs.conftest import PLAIN, image_input

pytestmark = pytest.mark.django_db


def submit(org, count=1):
    return job_submit(organization=org, params=PLAIN, images=[image_input() for _ in range(count)], source="gateway")[0]


def complete(job):
    from billing.services import hold_capture

    Job.objects.filter(id=job.id).update(status=Job.Status.COMPLETED, completed_at=timezone.now())
    hold_capture(job=job)


def test_a_sound_history_reconciles(paying_org):
    jobs = submit(paying_org, count=3)
    complete(jobs[0])
    job_cancel(organization=paying_org, job=jobs[1])
    entry = wallet_topup(organization=paying_org, amount=500, idempotency_key="stripe:checkout:cs_ok")
    Payment.objects.create(
        organization=paying_org, kind="topup", status="succeeded", amount=500, credit=500, ledger_entry=entry
    )
    assert reconcile() == []
    call_command("check_ledger")


@pytest.mark.ledger_discrepancy
def test_a_completed_job_that_was_never_captured_is_listed(paying_org):
    [job] = submit(paying_org)
    Job.objects.filter(id=job.id).update(status=Job.Status.COMPLETED)
    checks = {d.check for d in reconcile()}
    assert {"held = jobs in flight", "captures = completed jobs", "job settled once"} <= checks


@pytest.mark.ledger_discrepancy
def test_a_tampered_balance_is_listed_by_the_command(paying_org):
    Wallet.objects.filter(organization=paying_org).update(balance=5000)
    with pytest.raises(CommandError, match="discrepanc"):
        call_command("check_ledger")


@pytest.mark.ledger_discrepancy
def test_a_paid_payment_missing_from_the_ledger_and_an_orphan_stripe_entry_are_listed(paying_org):
    Payment.objects.create(organization=paying_org, kind="topup", status="succeeded", amount=700, credit=700)
    wallet_topup(organization=paying_org, amount=300, idempotency_key="stripe:invoice:in_orphan")
    details = [d.detail for d in reconcile() if d.check == "payment in the ledger"]
    assert any("has no ledger entry" in d for d in details)
    assert any("stripe:invoice:in_orphan belongs to 0 payments" in d for d in details)


@pytest.mark.ledger_discrepancy
def test_a_failed_payment_that_credited_is_listed(paying_org):
    entry = wallet_topup(organization=paying_org, amount=300, idempotency_key="stripe:pi:pi_bad")
    Payment.objects.create(
        organization=paying_org, kind="auto_recharge", status="failed", amount=300, ledger_entry=entry
    )
    assert any("is failed but credited" in d.detail for d in reconcile())


@pytest.mark.ledger_discrepancy
def test_the_staff_page_lists_differences(paying_org):
    Wallet.objects.filter(organization=paying_org).update(balance=5000)
    browser = Client()
    browser.force_login(UserFactory(username="recon-staff", is_staff=True))
    page = browser.get(reverse("staff:reconciliation")).content.decode()
    assert "balance 5000 != sum of ledger amounts 1000" in page
    LedgerEntry.objects.count()


def test_the_staff_page_says_when_everything_reconciles(paying_org):
    browser = Client()
    browser.force_login(UserFactory(username="recon-staff2", is_staff=True))
    assert "Every wallet reconciles" in browser.get(reverse("staff:reconciliation")).content.decode()
