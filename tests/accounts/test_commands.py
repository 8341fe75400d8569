"""Operator commands for organizations and keys."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from accounts.keys import KEY_PATTERN, authenticate_key
from accounts.models import ApiKey, Organization, Subscription
from billing.models import LedgerEntry
from config.errors import Forbidden
from tests.accounts.factories import OrganizationFactory, UserFactory, make_keys


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def keys_in(output: str) -> list[str]:
    return [word for word in output.split() if KEY_PATTERN.match(word)]


def test_create_org_with_credits_and_a_key_prints_the_key_once_and_it_works(db):
    output = run("create_org", "Acme", "--credits", "5000", "--key-name", "default")
    org = Organization.objects.get(name="Acme")
    assert org.wallet.balance == 5000
    assert LedgerEntry.objects.get(organization=org).kind == "topup"
    [key] = keys_in(output)
    assert output.count(key) == 1
    assert authenticate_key(key).organization == org
    assert org.webhook_secret not in output


def test_create_org_without_a_key_name_prints_no_secret(db):
    output = run("create_org", "Quiet Ltd", "--slug", "quiet")
    org = Organization.objects.get(slug="quiet")
    assert keys_in(output) == []
    assert not Subscription.objects.filter(organization=org).exists()
    assert "whsec_" not in output


def test_create_org_with_an_owner_and_unknown_names_fail_cleanly(db):
    user = UserFactory(username="boss")
    run("create_org", "Owned", "--owner", "boss")
    assert Organization.objects.get(name="Owned").memberships.get().user == user
    with pytest.raises(CommandError):
        run("create_org", "Nope", "--owner", "ghost")
    with pytest.raises(CommandError):
        run("create_org", "Nope", "--plan", "ghost-plan")
    assert not Organization.objects.filter(name="Nope").exists()


def test_issue_key_creates_a_set_and_regenerate_replaces_one_slot(db):
    org = OrganizationFactory(slug="acme")
    output = run("issue_key", "acme", "--name", "ci")
    primary, secondary = keys_in(output)
    assert authenticate_key(primary).slot == "primary"

    output = run("issue_key", str(org.id), "--name", "ci", "--regenerate", "primary")
    [new_primary] = keys_in(output)
    assert authenticate_key(new_primary).slot == "primary"
    assert authenticate_key(secondary).slot == "secondary"
    with pytest.raises(Forbidden):
        authenticate_key(primary)
    with pytest.raises(CommandError):
        run("issue_key", "acme", "--name", "ci")  # name taken
    with pytest.raises(CommandError):
        run("issue_key", "nowhere", "--name", "ci")


def test_revoke_key_by_name_revokes_the_set_and_by_prefix_one_key(db):
    org = OrganizationFactory(slug="acme")
    _, keys = make_keys(org, name="a")
    _, other = make_keys(org, name="b")

    run("revoke_key", "acme", "--name", "a")
    for key in keys.values():
        with pytest.raises(Forbidden):
            authenticate_key(key)

    prefix = KEY_PATTERN.match(other["secondary"]).group(1)
    run("revoke_key", "acme", "--prefix", prefix)
    with pytest.raises(Forbidden):
        authenticate_key(other["secondary"])
    assert authenticate_key(other["primary"]).slot == "primary"
    assert ApiKey.objects.get(prefix=prefix).revoked_at is not None


def test_revoke_key_cannot_reach_another_organizations_key(db):
    OrganizationFactory(slug="acme")
    theirs = OrganizationFactory(slug="theirs")
    _, keys = make_keys(theirs)
    prefix = KEY_PATTERN.match(keys["primary"]).group(1)
    with pytest.raises(CommandError):
        run("revoke_key", "acme", "--prefix", prefix)
    assert authenticate_key(keys["primary"]).organization == theirs


def test_set_org_status_suspends_and_reactivates(db):
    org = OrganizationFactory(slug="acme")
    _, keys = make_keys(org)
    run("set_org_status", "acme", "suspended")
    with pytest.raises(Forbidden):
        authenticate_key(keys["primary"])
    run("set_org_status", "acme", "active")
    assert authenticate_key(keys["primary"]).organization == org
