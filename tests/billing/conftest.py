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
