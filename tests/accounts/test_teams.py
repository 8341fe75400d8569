"""The team rules, at the service layer (the dashboard tests drive the same rules through pages)."""

from __future__ import annotations

import pytest
from django.core import mail

from accounts import services
from accounts.errors import AlreadyMember, LastOwner, NotATeamManager, OwnerRoleReserved
from accounts.models import Invitation, Membership
from config.errors import NotFound
from tests.accounts.factories import UserFactory

pytestmark = pytest.mark.django_db

Role = Membership.Role
BASE = "https://app.example.com"


def member(org, user) -> Membership:
    return Membership.objects.get(organization=org, user=user)


@pytest.fixture
def admin(org):
    user = UserFactory(username="ada")
    services.membership_add(organization=org, user=user, role=Role.ADMIN)
    return user


def test_the_invitation_link_is_built_on_the_given_base_url(org, owner):
    services.invitation_create(actor=member(org, owner), email="nina@example.com", role=Role.MEMBER, base_url=BASE)
    assert f"{BASE}/invitations/" in mail.outbox[-1].body


@pytest.mark.parametrize(
    ("actor_name", "role", "error"),
    [("teammate", Role.MEMBER, NotATeamManager), ("admin", Role.OWNER, OwnerRoleReserved)],
)
def test_who_may_invite_whom(org, owner, teammate, admin, actor_name, role, error):
    actor = {"teammate": teammate, "admin": admin}[actor_name]
    with pytest.raises(error):
        services.invitation_create(actor=member(org, actor), email="nina@example.com", role=role, base_url=BASE)
    assert not Invitation.objects.exists() and mail.outbox == []


def test_an_admin_invites_admins_and_members(org, admin):
    for role in (Role.ADMIN, Role.MEMBER):
        services.invitation_create(actor=member(org, admin), email=f"{role}@example.com", role=role, base_url=BASE)
    assert Invitation.objects.count() == 2


def test_a_member_is_found_by_any_of_their_addresses(org, owner, teammate):
    from allauth.account.models import EmailAddress

    EmailAddress.objects.create(user=teammate, email="tom.second@example.com", verified=True)
    with pytest.raises(AlreadyMember):
        services.invitation_create(
            actor=member(org, owner), email="TOM.second@example.com", role=Role.ADMIN, base_url=BASE
        )


def test_roles_are_changed_only_within_the_actors_organization(org, other_org, owner, outsider):
    with pytest.raises(NotFound):
        services.membership_change_role(actor=member(org, owner), membership=member(other_org, outsider), role="member")
    with pytest.raises(NotFound):
        services.member_remove(actor=member(org, owner), membership=member(other_org, outsider))
    assert member(other_org, outsider).role == Role.OWNER


def test_two_owners_may_each_step_down_but_not_both(org, owner, teammate):
    services.membership_change_role(actor=member(org, owner), membership=member(org, teammate), role=Role.OWNER)
    services.membership_change_role(actor=member(org, owner), membership=member(org, owner), role=Role.ADMIN)
    with pytest.raises(LastOwner):
        services.membership_change_role(actor=member(org, teammate), membership=member(org, teammate), role="admin")
    assert member(org, teammate).role == Role.OWNER


def test_removing_oneself_is_leaving_and_keeps_an_owner(org, owner):
    with pytest.raises(LastOwner):
        services.member_remove(actor=member(org, owner), membership=member(org, owner))
    assert member(org, owner).role == Role.OWNER
