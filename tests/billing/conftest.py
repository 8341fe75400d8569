"""Billing fixtures: a funded organization, an outsider, and job rows to hold money for."""

from __future__ import annotations

import pytest

from jobs.models import Job
from tests.accounts.factories import OrganizationFactory


def make_job(org, price: int = 10, **fields) -> Job:
    """A bare Job row (what job_submit would create) for ledger tests."""
    return Job.objects.create(organization=org, price=price, params={}, **fields)


@pytest.fixture
def org(db):
    return OrganizationFactory(name="Acme", initial_credit=100)


@pytest.fixture
def outsider_org(db):
    return OrganizationFactory(name="Outsider", initial_credit=100)


@pytest.fixture
def stripe_on(settings):
    from tests.billing.stripe_fakes import WEBHOOK_SECRET

    settings.STRIPE_SECRET_KEY = "sk_test_billing"
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    return settings


@pytest.fixture
def fake_stripe(monkeypatch):
    import stripe

    from tests.billing.stripe_fakes import FakeStripe

    fake = FakeStripe()
    monkeypatch.setattr(stripe, "default_http_client", fake)
    return fake


@pytest.fixture
def owner(db):
    from tests.accounts.factories import UserFactory

    return UserFactory(username="billing-owner", email="owner@acme.test")


@pytest.fixture
def paying_org(owner):
    return OrganizationFactory(name="Paying Co", owner=owner, initial_credit=1000)


@pytest.fixture
def pro_plan(db):
    from billing.models import Plan

    plan = Plan.objects.get(code="pro")
    plan.stripe_price_id = "price_pro"
    plan.save()
    return plan
