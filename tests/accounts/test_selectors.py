"""Tenant isolation: every read takes the organization first; the outsider sees nothing."""

from __future__ import annotations

import uuid

import pytest
from django.contrib.auth.models import AnonymousUser

from accounts.errors import LastOwner
from accounts.models import Membership
from accounts.selectors import (
    api_keys_for,
    members_for,
    membership_for,
    memberships_for_user,
    organization_by_ref,
    organization_for_user,
    subscription_get,
    subscriptions_for,
)
from accounts.services import membership_add, membership_remove, subscription_revoke
from billing.selectors import ledger_for
from config.errors import NotFound
from tests.accounts.factories import OrganizationFactory, UserFactory, make_key


def test_subscriptions_for_lists_only_the_organizations_own_live_sets_with_their_live_keys(org, other_org, keyset):
    make_key(other_org, name="theirs")
    revoked, _ = make_key(org, name="old")
    subscription_revoke(subscription=revoked)

    listed = list(subscriptions_for(org))
    assert [s.name for s in listed] == ["default"]
    assert sorted(k.slot for k in listed[0].live_keys) == ["primary", "secondary"]
    assert {s.name for s in subscriptions_for(org, include_revoked=True)} == {"default", "old"}
    assert [s.name for s in subscriptions_for(other_org)] == ["theirs"]


def test_subscription_get_answers_404_for_another_tenants_or_a_malformed_id(org, other_org, keyset):
    subscription, _ = keyset
    assert subscription_get(org, str(subscription.id)) == subscription
    with pytest.raises(NotFound):
        subscription_get(other_org, subscription.id)
    with pytest.raises(NotFound):
        subscription_get(org, "not-a-uuid")
    with pytest.raises(NotFound):
        subscription_get(org, uuid.uuid4())


def test_api_keys_and_ledger_of_one_tenant_never_include_anothers(org, other_org, keyset):
    make_key(other_org, name="theirs")
    assert {k.organization_id for k in api_keys_for(org)} == {org.id}
    assert {e.organization_id for e in ledger_for(org)} == {org.id}
    assert ledger_for(org).count() == 1  # its own initial credit only


def test_organization_for_user_returns_the_users_organization_and_404s_for_the_outsider(
    org, other_org, owner, teammate, outsider
):
    assert organization_for_user(owner) == org
    assert organization_for_user(teammate, str(org.id)) == org
    with pytest.raises(NotFound):
        organization_for_user(outsider, org.id)
    with pytest.raises(NotFound):
        organization_for_user(owner, other_org.id)
    with pytest.raises(NotFound):
        organization_for_user(owner, "garbage")
    with pytest.raises(NotFound):
        organization_for_user(AnonymousUser())
    with pytest.raises(NotFound):
        organization_for_user(UserFactory(username="loner"))


def test_a_user_with_several_memberships_can_pick_each_of_them(org, other_org, teammate):
    membership_add(organization=other_org, user=teammate, role=Membership.Role.ADMIN)
    assert [m.organization for m in memberships_for_user(teammate)] == [org, other_org]
    assert organization_for_user(teammate) == org  # the oldest membership by default
    assert organization_for_user(teammate, other_org.id) == other_org
    assert membership_for(teammate, other_org).role == "admin"


def test_members_for_lists_the_team_and_membership_for_refuses_the_outsider(org, owner, teammate, outsider):
    assert [(m.user.username, m.role) for m in members_for(org)] == [("owner", "owner"), ("teammate", "member")]
    with pytest.raises(NotFound):
        membership_for(outsider, org)


def test_membership_add_changes_the_role_of_an_existing_member_and_keeps_one_owner(org, owner, teammate):
    membership_add(organization=org, user=teammate, role=Membership.Role.ADMIN)
    assert Membership.objects.get(organization=org, user=teammate).role == "admin"
    assert Membership.objects.filter(organization=org).count() == 2

    with pytest.raises(LastOwner):
        membership_add(organization=org, user=owner, role=Membership.Role.MEMBER)
    with pytest.raises(LastOwner):
        membership_remove(membership=Membership.objects.get(organization=org, user=owner))

    membership_add(organization=org, user=teammate, role=Membership.Role.OWNER)
    membership_remove(membership=Membership.objects.get(organization=org, user=owner))
    assert [m.user for m in members_for(org)] == [teammate]


def test_organization_by_ref_finds_by_slug_or_id(db):
    org = OrganizationFactory(name="Ref Test", slug="ref-test")
    assert organization_by_ref("ref-test") == org
    assert organization_by_ref(str(org.id)) == org
    with pytest.raises(NotFound):
        organization_by_ref("nope")
