"""Teams through the dashboard: invitations by email (existing users and strangers), roles,
removal, leaving and switching. Every broken rule gives a clear message and changes nothing."""

from __future__ import annotations

import datetime as dt
import re
from datetime import timedelta

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from accounts.keys import invitation_token_digest
from accounts.models import Invitation, Membership, Organization
from accounts.services import membership_add
from billing.models import LedgerEntry
from tests.accounts.factories import DEFAULT_PASSWORD, OrganizationFactory, UserFactory
from tests.accounts.test_auth_flows import PASSWORD, verify_from_mail

pytestmark = pytest.mark.django_db

Role = Membership.Role


def verify(user, email: str | None = None):
    EmailAddress.objects.create(user=user, email=email or user.email, verified=True, primary=True)
    return user


def invite(client, email: str, role: str = "member"):
    return client.post(reverse("dashboard:team_invite"), {"email": email, "role": role})


def invitation_link(message) -> str:
    match = re.search(r"https?://testserver(/invitations/[^\s/]+/)", message.body)
    assert match, message.body
    return match.group(1)


def role_of(org, user) -> str | None:
    membership = Membership.objects.filter(organization=org, user=user).first()
    return membership.role if membership else None


def page_text(client, response) -> str:
    assert response.status_code == 302
    return client.get(response["Location"]).content.decode()


@pytest.fixture
def admin(org):
    admin = UserFactory(username="ada", email="ada@acme.test")
    membership_add(organization=org, user=admin, role=Role.ADMIN)
    return admin


@pytest.fixture
def admin_client(client, admin):
    client.force_login(admin)
    return client


# --- Invitations -------------------------------------------------------------------------------


def test_an_owner_invites_an_existing_user_who_accepts(owner_client, org, owner):
    nina = verify(UserFactory(username="nina", email="nina@example.com"))
    response = invite(owner_client, "Nina@Example.com", "admin")
    assert "Invitation sent to nina@example.com" in page_text(owner_client, response)
    invitation = Invitation.objects.get(organization=org)
    assert (invitation.email, invitation.role, invitation.invited_by) == ("nina@example.com", Role.ADMIN, owner)
    (message,) = mail.outbox
    assert message.to == ["nina@example.com"] and "Acme Photos" in message.subject
    link = invitation_link(message)
    token = link.rstrip("/").rsplit("/", 1)[1]
    assert invitation.token_digest == invitation_token_digest(token) and token not in invitation.token_digest

    owner_client.logout()
    owner_client.force_login(nina)
    page = owner_client.get(link)
    assert page.status_code == 200 and "Join Acme Photos" in page.content.decode()
    assert role_of(org, nina) is None  # looking is not accepting
    response = owner_client.post(link)
    assert "Welcome to Acme Photos" in page_text(owner_client, response)
    assert role_of(org, nina) == Role.ADMIN
    invitation.refresh_from_db()
    assert invitation.accepted_by == nina and invitation.accepted_at is not None
    # The dashboard now acts for the organization just joined.
    assert "<h1>Acme Photos</h1>" in owner_client.get(reverse("dashboard:home")).content.decode()


def test_a_stranger_signs_up_from_the_invitation_and_joins_without_an_own_organization(owner_client, org):
    invite(owner_client, "newcomer@example.com", "member")
    link = invitation_link(mail.outbox[-1])
    stranger = owner_client.__class__()
    page = stranger.get(link)
    assert page.status_code == 200
    assert reverse("account_signup") in page.content.decode()
    # The sign-up form knows the invitation: whom they join, the invited address, no org field.
    form_page = stranger.get(reverse("account_signup") + f"?next={link}")
    text = form_page.content.decode()
    assert "Join Acme Photos" in text and "trial credit" not in text
    assert 'name="organization_name"' not in text and 'value="newcomer@example.com"' in text

    mail.outbox.clear()
    response = stranger.post(
        reverse("account_signup") + f"?next={link}",
        {"email": "newcomer@example.com", "password1": PASSWORD, "password2": PASSWORD, "next": link},
    )
    assert response.status_code == 302
    sent = stranger.get(response["Location"]).content.decode()
    assert "accept the invitation to join Acme Photos" in sent and "trial credit" not in sent
    newcomer = get_user_model().objects.get(email="newcomer@example.com")
    assert not Membership.objects.filter(user=newcomer).exists()  # no own organization made
    verify_from_mail(stranger, mail.outbox[-1])
    response = stranger.post(link)
    assert "Welcome to Acme Photos" in page_text(stranger, response)
    assert role_of(org, newcomer) == Role.MEMBER
    assert Membership.objects.filter(user=newcomer).count() == 1
    assert not LedgerEntry.objects.filter(kind=LedgerEntry.Kind.TRIAL, created_by=newcomer).exists()


def test_only_the_invited_address_can_accept(owner_client, org):
    invite(owner_client, "nina@example.com")
    link = invitation_link(mail.outbox[-1])
    other = verify(UserFactory(username="mallory", email="mallory@example.com"))
    owner_client.force_login(other)
    response = owner_client.post(link)
    assert response.status_code == 403
    assert "This invitation was sent to nina@example.com" in response.content.decode()
    assert role_of(org, other) is None
    assert Invitation.objects.get().is_open


def test_an_unverified_copy_of_the_address_cannot_accept(owner_client, org):
    invite(owner_client, "nina@example.com")
    link = invitation_link(mail.outbox[-1])
    nina = UserFactory(username="nina", email="nina@example.com")
    EmailAddress.objects.create(user=nina, email=nina.email, verified=False, primary=True)
    owner_client.force_login(nina)
    assert owner_client.post(link).status_code == 403
    assert role_of(org, nina) is None


def test_a_link_works_once(owner_client, org):
    nina = verify(UserFactory(username="nina", email="nina@example.com"))
    invite(owner_client, "nina@example.com")
    link = invitation_link(mail.outbox[-1])
    owner_client.force_login(nina)
    owner_client.post(link)
    Membership.objects.filter(organization=org, user=nina).delete()
    response = owner_client.post(link)
    assert response.status_code == 409 and "already been used" in response.content.decode()
    assert role_of(org, nina) is None


def test_an_expired_link_is_refused(owner_client, org):
    nina = verify(UserFactory(username="nina", email="nina@example.com"))
    invite(owner_client, "nina@example.com")
    link = invitation_link(mail.outbox[-1])
    Invitation.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    owner_client.force_login(nina)
    response = owner_client.post(link)
    assert response.status_code == 409 and "expired" in response.content.decode()
    assert role_of(org, nina) is None


def test_inviting_again_replaces_the_old_link_and_withdrawing_kills_it(owner_client, org):
    nina = verify(UserFactory(username="nina", email="nina@example.com"))
    invite(owner_client, "nina@example.com", "member")
    old_link = invitation_link(mail.outbox[-1])
    invite(owner_client, "nina@example.com", "admin")
    new_link = invitation_link(mail.outbox[-1])
    assert Invitation.objects.filter(organization=org, revoked_at__isnull=True).count() == 1
    owner_client.post(reverse("dashboard:team_invitation_revoke", args=[Invitation.objects.get(revoked_at=None).pk]))
    owner_client.force_login(nina)
    for link in (old_link, new_link):
        assert owner_client.post(link).status_code == 409
    assert role_of(org, nina) is None


def test_a_garbage_link_is_a_404(client):
    response = client.get(reverse("dashboard:invitation_accept", args=["not-a-token"]))
    assert response.status_code == 404 and "Invitation not found" in response.content.decode()


def test_an_existing_member_is_not_re_roled_by_an_invitation(owner_client, org, teammate):
    response = invite(owner_client, teammate.email, "admin")
    assert response.status_code == 400
    assert f"{teammate.email} is already a member" in response.content.decode()
    assert not Invitation.objects.exists() and mail.outbox == []
    assert role_of(org, teammate) == Role.MEMBER


def test_accepting_after_joining_another_way_keeps_the_role(owner_client, org):
    nina = verify(UserFactory(username="nina", email="nina@example.com"))
    invite(owner_client, "nina@example.com", "admin")
    link = invitation_link(mail.outbox[-1])
    membership_add(organization=org, user=nina, role=Role.MEMBER)
    owner_client.force_login(nina)
    response = owner_client.post(link)
    assert "your role is unchanged" in page_text(owner_client, response)
    assert role_of(org, nina) == Role.MEMBER


def test_an_admin_cannot_invite_an_owner(admin_client, org):
    response = invite(admin_client, "boss@example.com", "owner")
    assert response.status_code == 400
    assert "Only an owner can invite another owner" in response.content.decode()
    assert not Invitation.objects.exists() and mail.outbox == []


def test_a_member_cannot_invite(teammate_client, org):
    assert invite(teammate_client, "friend@example.com").status_code == 403
    assert not Invitation.objects.exists()


def test_a_malformed_address_is_refused(owner_client, org):
    response = invite(owner_client, "not an address")
    assert response.status_code == 400 and "Enter a valid email address" in response.content.decode()
    assert not Invitation.objects.exists()


def test_an_invitation_that_cannot_be_mailed_is_not_made(owner_client, org, settings):
    # A real SMTP attempt to a closed local port: the mail provider is the boundary here.
    settings.MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": 9, "timeout": 2},
        }
    }
    response = invite(owner_client, "nina@example.com")
    assert response.status_code == 400
    assert "could not be sent" in response.content.decode()
    assert not Invitation.objects.exists()


# --- Roles, removal, leaving ---------------------------------------------------------------------


def change_role(client, org, user, role):
    membership = Membership.objects.get(organization=org, user=user)
    return client.post(reverse("dashboard:team_member_role", args=[membership.pk]), {"role": role})


def remove(client, org, user):
    membership = Membership.objects.get(organization=org, user=user)
    return client.post(reverse("dashboard:team_member_remove", args=[membership.pk]))


def test_an_owner_changes_roles_including_making_an_owner(owner_client, org, teammate):
    assert "tom@acme.test is now an admin." in page_text(
        owner_client, change_role(owner_client, org, teammate, "admin")
    )
    assert role_of(org, teammate) == Role.ADMIN
    assert "tom@acme.test is now a member." in page_text(
        owner_client, change_role(owner_client, org, teammate, "member")
    )
    change_role(owner_client, org, teammate, "owner")
    assert role_of(org, teammate) == Role.OWNER


@pytest.mark.parametrize(
    ("target", "role", "message"),
    [
        ("teammate", "owner", "Only an owner can make someone an owner"),  # promote to owner
        ("owner", "member", "Only an owner can make someone an owner, or change or remove an owner"),
    ],
)
def test_an_admin_cannot_grant_or_take_the_owner_role(admin_client, org, owner, teammate, target, role, message):
    user = {"owner": owner, "teammate": teammate}[target]
    before = role_of(org, user)
    assert message in page_text(admin_client, change_role(admin_client, org, user, role))
    assert role_of(org, user) == before


def test_the_last_owner_cannot_step_down(owner_client, org, owner):
    text = page_text(owner_client, change_role(owner_client, org, owner, "admin"))
    assert "An organization must keep at least one owner" in text
    assert role_of(org, owner) == Role.OWNER


def test_an_unknown_role_is_refused(owner_client, org, teammate):
    assert "Unknown role" in page_text(owner_client, change_role(owner_client, org, teammate, "emperor"))
    assert role_of(org, teammate) == Role.MEMBER


def test_a_member_cannot_change_roles_or_remove_anyone(teammate_client, org, owner, teammate):
    assert change_role(teammate_client, org, teammate, "admin").status_code == 403
    assert remove(teammate_client, org, owner).status_code == 403
    assert role_of(org, teammate) == Role.MEMBER and role_of(org, owner) == Role.OWNER


def test_an_owner_removes_a_member(owner_client, org, teammate):
    assert "tom@acme.test was removed" in page_text(owner_client, remove(owner_client, org, teammate))
    assert role_of(org, teammate) is None


def test_an_admin_cannot_remove_an_owner(admin_client, org, owner):
    assert "Only an owner can" in page_text(admin_client, remove(admin_client, org, owner))
    assert role_of(org, owner) == Role.OWNER


def test_a_member_leaves(teammate_client, org, teammate):
    response = teammate_client.post(reverse("dashboard:team_leave"))
    assert response.status_code == 302
    assert role_of(org, teammate) is None
    # With no organization left, the dashboard offers to create one.
    assert teammate_client.get(reverse("dashboard:home"))["Location"] == reverse("dashboard:no_organization")


def test_the_only_owner_cannot_leave(owner_client, org, owner):
    text = page_text(owner_client, owner_client.post(reverse("dashboard:team_leave")))
    assert "You are the only owner" in text
    assert role_of(org, owner) == Role.OWNER
    # The page does not offer what would be refused: no Leave button, no role change of their own.
    page = owner_client.get(reverse("dashboard:team")).content.decode()
    assert reverse("dashboard:team_leave") not in page and "data-sole-owner" in page
    own = Membership.objects.get(organization=org, user=owner)
    assert reverse("dashboard:team_member_role", args=[own.pk]) not in page


def test_leaving_one_organization_switches_to_another(owner_client, org, owner, teammate):
    side = OrganizationFactory(name="Side Project", owner=owner)
    owner_client.post(reverse("dashboard:switch_organization"), {"organization_id": str(side.id)})
    membership_add(organization=side, user=teammate, role=Role.OWNER)
    owner_client.post(reverse("dashboard:team_leave"))
    assert role_of(side, owner) is None
    assert "<h1>Acme Photos</h1>" in owner_client.get(reverse("dashboard:home")).content.decode()


# --- Tenancy -------------------------------------------------------------------------------------


def test_an_outsider_can_touch_nothing_of_another_organizations_team(outsider_client, org, owner, teammate):
    invitation_client = outsider_client.__class__()
    invitation_client.force_login(owner)
    invite(invitation_client, "nina@example.com")
    invitation = Invitation.objects.get(organization=org)
    body = outsider_client.get(reverse("dashboard:team")).content.decode()
    assert "tom@acme.test" not in body and "nina@example.com" not in body and "Acme Photos" not in body
    assert change_role(outsider_client, org, teammate, "owner").status_code == 404
    assert remove(outsider_client, org, owner).status_code == 404
    assert outsider_client.post(reverse("dashboard:team_invitation_revoke", args=[invitation.pk])).status_code == 404
    assert role_of(org, teammate) == Role.MEMBER and role_of(org, owner) == Role.OWNER
    assert Invitation.objects.get(pk=invitation.pk).is_open
    assert Organization.objects.get(pk=org.pk).memberships.count() == 2


def test_the_team_page_lists_members_and_open_invitations(owner_client, org):
    invite(owner_client, "nina@example.com", "admin")
    body = owner_client.get(reverse("dashboard:team")).content.decode()
    assert "tom@acme.test" in body and "nina@example.com" in body
    assert "data-sole-owner" in body  # the only owner is told how to leave instead


def test_a_member_is_offered_to_leave(teammate_client, org):
    body = teammate_client.get(reverse("dashboard:team")).content.decode()
    assert reverse("dashboard:team_leave") in body and "data-sole-owner" not in body


def test_a_login_from_the_invitation_link_comes_back_to_it(owner_client, org):
    nina = verify(UserFactory(username="nina", email="nina@example.com"))
    invite(owner_client, "nina@example.com")
    link = invitation_link(mail.outbox[-1])
    visitor = owner_client.__class__()
    response = visitor.post(
        reverse("account_login") + f"?next={link}", {"login": "nina", "password": DEFAULT_PASSWORD, "next": link}
    )
    assert response.status_code == 302 and response["Location"] == link
    visitor.post(link)
    assert role_of(org, nina) == Role.MEMBER


def test_team_dates_are_local_time_elements_like_the_rest_of_the_dashboard(owner_client, org):
    invite(owner_client, "nina@example.com")
    page = owner_client.get(reverse("dashboard:team")).content.decode()
    invitation = Invitation.objects.get(organization=org, email="nina@example.com")
    expires = invitation.expires_at.astimezone(dt.UTC)
    assert (
        f'<time datetime="{expires.isoformat(timespec="seconds").replace("+00:00", "Z")}" data-local="datetime">'
        in page
    )
    assert 'data-local="date"' in page  # members' "since"
