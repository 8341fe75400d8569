"""POST /api/docs/key/: a signed-in owner or admin gets a real new key for the docs page."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.keys import authenticate_key
from accounts.models import Membership, Subscription
from accounts.services import membership_add
from tests.accounts.factories import OrganizationFactory, UserFactory

pytestmark = pytest.mark.django_db
URL = "/api/docs/key/"


@pytest.fixture
def org():
    return OrganizationFactory(name="Docs Co", owner=UserFactory(username="owner"), initial_credit=100)


def client_for(user) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    client.get("/api/docs/")  # sets the CSRF cookie, as the page does
    return client


def post(client: Client):
    return client.post(URL, HTTP_X_CSRFTOKEN=client.cookies["csrftoken"].value)


def test_an_owner_gets_a_working_key_of_their_organization(org):
    owner = Membership.objects.get(organization=org).user
    response = post(client_for(owner))
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert authenticate_key(body["key"]).organization == org
    assert Subscription.objects.get(organization=org, name=body["name"]).name.startswith("API docs ")


def test_a_plain_member_an_outsider_and_a_stranger_get_none(org):
    member = UserFactory(username="member")
    membership_add(organization=org, user=member, role=Membership.Role.MEMBER)
    assert post(client_for(member)).status_code == 403
    assert post(client_for(UserFactory(username="nobody"))).status_code == 403
    anonymous = Client(enforce_csrf_checks=True)
    anonymous.get("/api/docs/")
    assert anonymous.post(URL, HTTP_X_CSRFTOKEN=anonymous.cookies["csrftoken"].value).status_code == 403
    assert Subscription.objects.filter(organization=org).count() == 0


def test_it_refuses_a_post_without_the_csrf_token_and_a_get(org):
    owner = Membership.objects.get(organization=org).user
    client = client_for(owner)
    assert client.post(URL).status_code == 403
    assert client.get(URL).status_code == 405
    assert Subscription.objects.filter(organization=org).count() == 0
