"""Organization and key-set services."""

from __future__ import annotations

import pytest

from accounts.errors import SubscriptionNameTaken, SubscriptionRevoked
from accounts.models import Organization
from accounts.services import (
    api_key_regenerate,
    organization_create,
    organization_set_status,
    subscription_create,
    subscription_revoke,
    webhook_secret_rotate,
)
from billing.models import LedgerEntry, Plan
from config.errors import BadRequest


def test_organization_create_makes_a_unique_slug_a_wallet_and_a_webhook_secret(db):
    first = organization_create(name="Acme Photo")
    second = organization_create(name="Acme Photo")
    assert first.slug == "acme-photo"
    assert second.slug.startswith("acme-photo-") and second.slug != first.slug
    assert first.wallet.balance == 0 and first.wallet.held == 0
    assert first.webhook_secret.startswith("whsec_") and first.webhook_secret != second.webhook_secret
    assert first.plan == Plan.objects.get(is_default=True)
    assert not LedgerEntry.objects.filter(organization=first).exists()


def test_organization_create_rejects_an_empty_name_and_negative_credit(db):
    with pytest.raises(BadRequest):
        organization_create(name="  ")
    with pytest.raises(BadRequest):
        organization_create(name="Acme", initial_credit=-1)
    assert not Organization.objects.exists()


def test_subscription_names_are_unique_among_live_sets_only(org):
    subscription, _ = subscription_create(organization=org, name="ci")
    with pytest.raises(SubscriptionNameTaken):
        subscription_create(organization=org, name="ci")
    subscription_revoke(subscription=subscription)
    replacement, _ = subscription_create(organization=org, name="ci")
    assert replacement.pk != subscription.pk


def test_a_revoked_subscription_cannot_be_regenerated_and_revoking_twice_is_harmless(org, keyset):
    subscription, _ = keyset
    subscription_revoke(subscription=subscription)
    first = subscription.revoked_at
    subscription_revoke(subscription=subscription)
    subscription.refresh_from_db()
    assert subscription.revoked_at == first
    assert not subscription.keys.filter(revoked_at__isnull=True).exists()
    with pytest.raises(SubscriptionRevoked):
        api_key_regenerate(subscription=subscription, slot="primary")


def test_regenerate_rejects_an_unknown_slot(org, keyset):
    with pytest.raises(BadRequest):
        api_key_regenerate(subscription=keyset[0], slot="tertiary")


def test_webhook_secret_rotation_keeps_the_previous_secret_for_the_overlap(org):
    old = org.webhook_secret
    new = webhook_secret_rotate(organization=org)
    org.refresh_from_db()
    assert new.startswith("whsec_") and new != old
    assert (org.webhook_secret, org.previous_webhook_secret) == (new, old)
    assert org.webhook_secret_rotated_at is not None


def test_organization_set_status_rejects_unknown_statuses(org):
    with pytest.raises(BadRequest):
        organization_set_status(organization=org, status="deleted")
    organization_set_status(organization=org, status="suspended")
    org.refresh_from_db()
    assert org.status == "suspended"
