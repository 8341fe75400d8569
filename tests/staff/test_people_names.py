"""The staff console names people by full name, else email, never by the username allauth derived
at sign-up; and a wallet adjustment asks before it moves money."""

from __future__ import annotations

import uuid

import pytest
from django.urls import reverse

from accounts.models import Membership
from accounts.services import membership_add
from moderation.models import BlockedHash, ModerationItem
from tests.accounts.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def walker(acme):
    user = UserFactory(username="walker.three+test", email="walker@acme.test")
    membership_add(organization=acme, user=user, role=Membership.Role.ADMIN)
    return user


@pytest.fixture
def named_staff(staff_user):
    staff_user.first_name, staff_user.last_name = "Stella", "Staff"
    staff_user.save(update_fields=["first_name", "last_name"])
    return staff_user


def html_of(client, url) -> str:
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


def test_members_and_the_ledger_name_people_not_usernames(staff_client, named_staff, acme, walker):
    detail = reverse("staff:organization_detail", args=[acme.id])
    staff_client.post(detail, {"amount": "2.00", "reason": "Goodwill", "token": str(uuid.uuid4())})

    html = html_of(staff_client, detail)

    assert "<td>walker@acme.test</td>" in html  # no full name: the email, once
    assert "walker.three+test" not in html
    assert '<td class="muted small">Stella Staff</td>' in html  # the ledger's By column
    assert ">stella<" not in html


def test_the_wallet_adjustment_asks_for_confirmation(staff_client, acme):
    html = html_of(staff_client, reverse("staff:organization_detail", args=[acme.id]))

    # The question names the amount and the new balance (tests/browser/test_staff_console.py
    # reads the dialog itself); the page gives it the organization, balance and currency.
    assert 'onsubmit="return confirm(adjustQuestion(this))"' in html
    assert 'data-organization="Acme Photos" data-balance="1000" data-currency="USD"' in html


def test_the_audit_trails_actor_filter_and_who_column_name_staff(staff_client, named_staff):
    html = html_of(staff_client, reverse("moderation:audit"))

    assert f'<option value="{named_staff.id}">Stella Staff</option>' in html
    assert '<td data-label="Who">Stella Staff</td>' in html  # the console sign-in is in the trail


def test_the_blocklist_queue_and_item_name_people(staff_client, named_staff, acme, walker):
    BlockedHash.objects.create(pdq_hash="f" * 64, reason="Known bad", added_by=named_staff)
    item = ModerationItem.objects.create(
        origin=ModerationItem.Origin.BLOCKLIST, organization=acme, user=walker, reason="Upload refused"
    )

    blocklist = html_of(staff_client, reverse("moderation:blocklist"))
    queue = html_of(staff_client, reverse("moderation:queue"))
    detail = html_of(staff_client, reverse("moderation:item", args=[item.id]))

    assert "<td>Stella Staff</td>" in blocklist
    assert "<div>walker@acme.test</div>" in queue
    assert "no key · walker@acme.test · " in detail
    assert "walker.three+test" not in queue + detail
