from __future__ import annotations

import pytest

from moderation.models import StaffMember
from tests.accounts.factories import OrganizationFactory, UserFactory


@pytest.fixture
def staff_user(db):
    """A trust and safety admin (may refund, suspend, delete)."""
    user = UserFactory(username="stella", is_staff=True)
    StaffMember.objects.create(user=user, role=StaffMember.Role.ADMIN)
    return user


@pytest.fixture
def support_user(db):
    """Staff with the support role: reads and flags only."""
    return UserFactory(username="sam", is_staff=True)


@pytest.fixture
def support_client(client, support_user):
    client.force_login(support_user)
    return client


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
