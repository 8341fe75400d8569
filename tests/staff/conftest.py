from __future__ import annotations

import pytest

from tests.accounts.factories import OrganizationFactory, UserFactory


@pytest.fixture
def staff_user(db):
    return UserFactory(username="stella", is_staff=True)


@pytest.fixture
def customer(db):
    return UserFactory(username="carl")


@pytest.fixture
def staff_client(client, staff_user):
    client.force_login(staff_user)
    return client


@pytest.fixture
def acme(customer):
    return OrganizationFactory(name="Acme Photos", owner=customer, initial_credit=1000)


@pytest.fixture
def globex(db):
    return OrganizationFactory(name="Globex", initial_credit=500)
