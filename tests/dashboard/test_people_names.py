"""People are named by their full name, else their email address, never by the username that
allauth derives at sign-up and they have never seen (accounts.display.user_display)."""

from __future__ import annotations

import pytest
from django.core import mail
from django.urls import reverse

from accounts.models import Membership
from accounts.services import invitation_create, membership_add
from jobs.services import job_submit
from jobs.types import ImageInput
from tests.accounts.factories import OrganizationFactory, UserFactory
from tests.dashboard.conftest import PLAIN, png_bytes
from tests.dashboard.test_team import invitation_link

pytestmark = pytest.mark.django_db

DERIVED = "walker.three+test"  # what allauth makes of walker.three+test@example.com


@pytest.fixture
def walker(db):
    return UserFactory(username=DERIVED, email="walker@acme.test")


@pytest.fixture
def named(db):
    return UserFactory(username="derived-nina", email="nina@acme.test", first_name="Nina", last_name="Simone")


@pytest.fixture
def acme(walker, named):
    organization = OrganizationFactory(name="Acme Photos", owner=walker, initial_credit=1000)
    membership_add(organization=organization, user=named, role=Membership.Role.ADMIN)
    return organization


@pytest.fixture
def walker_client(client, walker, acme):
    client.force_login(walker)
    return client


def page(client, name: str) -> str:
    response = client.get(reverse(name))
    assert response.status_code == 200
    return response.content.decode()


def test_the_team_page_names_members_by_full_name_else_email(walker_client):
    html = page(walker_client, "dashboard:team")

    assert DERIVED not in html and "derived-nina" not in html
    assert "<strong>walker@acme.test</strong> <span" in html  # then "(you)"
    assert "<strong>Nina Simone</strong>" in html
    assert 'aria-label="Role of Nina Simone"' in html
    assert "confirm('Remove Nina Simone from Acme Photos?')" in html
    # The email is shown once: under a full name, not twice for someone without one.
    assert '<div class="muted small">nina@acme.test</div>' in html
    assert '<div class="muted small">walker@acme.test</div>' not in html


def test_an_invitation_names_who_sent_it_and_who_is_signed_in(client, named, acme):
    actor = Membership.objects.get(organization=acme, user=named)
    invitation_create(actor=actor, email="new@acme.test", role=Membership.Role.MEMBER, base_url="http://testserver")
    (message,) = mail.outbox
    client.force_login(named)

    team = page(client, "dashboard:team")

    assert '<td class="muted">Nina Simone</td>' in team
    assert "Nina Simone invites you" in message.subject
    assert "Nina Simone (nina@acme.test) invites you" in message.body
    assert "derived-nina" not in message.subject + message.body

    invitee = UserFactory(username="derived-newbie", email="new@acme.test", first_name="Neo")
    client.force_login(invitee)
    html = client.get(invitation_link(message)).content.decode()
    assert "<strong>Nina Simone</strong> invites you" in html
    assert "Signed in as Neo (new@acme.test)." in html
    assert "derived-" not in html


def test_the_audit_trail_names_the_member_who_acted(walker_client):
    assert walker_client.post(reverse("dashboard:key_create"), {"name": "production"}).status_code == 200

    html = page(walker_client, "trust:organization_audit")

    assert '<td data-label="Who">walker@acme.test</td>' in html
    assert f'<td data-label="Who">{DERIVED}</td>' not in html  # the Who column


def test_the_settings_page_says_who_is_signed_in_without_the_username(client, named, acme):
    client.force_login(named)

    html = page(client, "dashboard:settings")

    assert "Signed in as <strong>Nina Simone</strong> (nina@acme.test)" in html
    assert "derived-nina" not in html


def test_without_a_full_name_the_email_is_not_repeated(walker_client):
    html = page(walker_client, "dashboard:settings")

    assert "Signed in as <strong>walker@acme.test</strong>, owner" in html


def test_a_job_made_in_the_dashboard_names_its_maker(walker_client, named, acme):
    image = ImageInput(data=png_bytes(), name="face.png", width=48, height=40, format="PNG")
    job_submit(organization=acme, params=PLAIN, images=[image], source="dashboard", user=named)

    html = page(walker_client, "dashboard:jobs")

    assert "by Nina Simone" in html
    assert "derived-nina" not in html


def test_a_membership_is_named_by_the_persons_display_name_in_the_audit_trail():
    user = UserFactory(username="derived.name", email="ada@example.com")
    OrganizationFactory(name="Acme Photos", owner=user)
    membership = Membership.objects.get(user=user)
    assert str(membership) == "ada@example.com in Acme Photos (owner)"
