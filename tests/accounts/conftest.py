"""Three hand-made parties: an owner, a teammate, and an outsider who must see nothing."""

from __future__ import annotations

import pytest

from accounts.models import Membership
from accounts.services import membership_add
from tests.accounts.factories import OrganizationFactory, UserFactory, make_keys


@pytest.fixture
def owner(db):
    return UserFactory(username="owner")


@pytest.fixture
def teammate(db):
    return UserFactory(username="teammate")


@pytest.fixture
def outsider(db):
    return UserFactory(username="outsider")


@pytest.fixture
def org(owner, teammate):
    organization = OrganizationFactory(name="Acme", owner=owner, initial_credit=1000)
    membership_add(organization=organization, user=teammate, role=Membership.Role.MEMBER)
    return organization


@pytest.fixture
def other_org(outsider):
    return OrganizationFactory(name="Other Corp", owner=outsider, initial_credit=1000)


@pytest.fixture
def keyset(org):
    """(subscription, {"primary": key, "secondary": key})"""
    return make_keys(org)
