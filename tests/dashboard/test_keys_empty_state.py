"""The keys page's empty table says whether there were never keys or only revoked ones."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.services import subscription_create, subscription_revoke

pytestmark = pytest.mark.django_db


def keys_page(client) -> str:
    response = client.get(reverse("dashboard:keys"))
    assert response.status_code == 200
    return response.content.decode()


def test_with_no_key_sets_it_says_none_yet(owner_client):
    html = keys_page(owner_client)

    assert "No keys yet. Create a key set above; the keys are shown once." in html
    assert "No live keys" not in html


def test_with_only_revoked_key_sets_it_points_to_them(owner_client, org):
    sub, _ = subscription_create(organization=org, name="production")
    assert owner_client.post(reverse("dashboard:key_revoke", args=[sub.id])).status_code == 302

    html = keys_page(owner_client)

    assert "No keys yet" not in html
    assert "No live keys. Create a key set above; the keys are shown once. Revoked key sets are listed below." in html
    assert "Revoked key sets (1)" in html


def test_a_member_who_cannot_create_keys_is_not_told_to(teammate_client, org):
    sub, _ = subscription_create(organization=org, name="production")
    subscription_revoke(subscription=sub)

    html = keys_page(teammate_client)

    assert "No live keys. Revoked key sets are listed below." in html
