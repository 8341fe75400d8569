from __future__ import annotations

import re

import pytest
from django.urls import reverse

from accounts.keys import authenticate_key
from accounts.models import ApiKey, Subscription
from accounts.services import subscription_revoke
from config.errors import Forbidden
from tests.accounts.factories import make_keys

pytestmark = pytest.mark.django_db

KEY = re.compile(r"cf_[a-z0-9]{12}_[A-Za-z0-9_-]{20,}")


def test_creating_a_key_set_shows_both_full_keys_once_and_stores_only_digests(owner_client, org):
    response = owner_client.post(reverse("dashboard:key_create"), {"name": "production"})
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    shown = sorted(set(KEY.findall(response.content.decode())))
    assert len(shown) == 2
    subscription = Subscription.objects.get(organization=org, name="production")
    stored = list(ApiKey.objects.filter(subscription=subscription))
    assert sorted(k.slot for k in stored) == ["primary", "secondary"]
    for key in shown:
        assert authenticate_key(key).subscription_id == subscription.id
        assert all(key not in (k.digest, k.prefix) for k in stored)
    # The list page shows prefixes and never the keys again.
    body = owner_client.get(reverse("dashboard:keys")).content.decode()
    assert "production" in body
    assert not KEY.findall(body)
    for api_key in stored:
        assert f"cf_{api_key.prefix}_" in body


def test_regenerating_a_slot_shows_the_new_key_and_the_old_one_stops_working(owner_client, org):
    subscription, keys = make_keys(org, name="ci")
    response = owner_client.post(reverse("dashboard:key_regenerate", args=[subscription.id]), {"slot": "secondary"})
    new_key = sorted(set(KEY.findall(response.content.decode())))
    assert len(new_key) == 1 and new_key[0] != keys["secondary"]
    assert authenticate_key(new_key[0]).slot == "secondary"
    assert authenticate_key(keys["primary"]).slot == "primary"
    with pytest.raises(Forbidden):
        authenticate_key(keys["secondary"])


def test_revoking_a_key_set_revokes_both_keys(owner_client, org):
    subscription, keys = make_keys(org, name="old")
    response = owner_client.post(reverse("dashboard:key_revoke", args=[subscription.id]))
    assert response.status_code == 302
    for key in keys.values():
        with pytest.raises(Forbidden):
            authenticate_key(key)
    body = owner_client.get(reverse("dashboard:keys")).content.decode()
    for api_key in ApiKey.objects.filter(subscription=subscription):
        assert api_key.prefix not in body


def test_a_member_cannot_manage_keys(teammate_client, org):
    subscription, keys = make_keys(org, name="shared")
    assert teammate_client.post(reverse("dashboard:key_create"), {"name": "sneaky"}).status_code == 403
    assert (
        teammate_client.post(
            reverse("dashboard:key_regenerate", args=[subscription.id]), {"slot": "primary"}
        ).status_code
        == 403
    )
    assert teammate_client.post(reverse("dashboard:key_revoke", args=[subscription.id])).status_code == 403
    assert not Subscription.objects.filter(name="sneaky").exists()
    assert authenticate_key(keys["primary"]).subscription_id == subscription.id
    # Members still see the key list, without the buttons.
    body = teammate_client.get(reverse("dashboard:keys")).content.decode()
    assert "shared" in body and "Regenerate" not in body


def test_an_outsider_cannot_touch_another_organizations_keys(outsider_client, org):
    subscription, keys = make_keys(org, name="theirs")
    assert (
        outsider_client.post(
            reverse("dashboard:key_regenerate", args=[subscription.id]), {"slot": "primary"}
        ).status_code
        == 404
    )
    assert outsider_client.post(reverse("dashboard:key_revoke", args=[subscription.id])).status_code == 404
    assert authenticate_key(keys["primary"]).subscription_id == subscription.id
    assert "theirs" not in outsider_client.get(reverse("dashboard:keys")).content.decode()


def test_a_duplicate_key_name_is_refused_with_a_message(owner_client, org):
    make_keys(org, name="production")
    response = owner_client.post(reverse("dashboard:key_create"), {"name": "production"}, follow=True)
    assert "already exists" in response.content.decode()
    assert Subscription.objects.filter(organization=org, name="production").count() == 1


def test_revoked_key_sets_stay_listed_with_a_link_to_their_jobs(owner_client, org, other_org):
    subscription, _ = make_keys(org, name="old pipeline")
    make_keys(org, name="current")
    owner_client.post(reverse("dashboard:key_revoke", args=[subscription.id]))

    response = owner_client.get(reverse("dashboard:keys"))

    assert [sub.name for sub in response.context["revoked"]] == ["old pipeline"]
    body = response.content.decode()
    assert "Revoked key sets (1)" in body
    assert f"{reverse('dashboard:jobs')}?key={subscription.id}" in body
    assert [row["subscription"].name for row in response.context["rows"]] == ["current"]
    theirs, _ = make_keys(other_org, name="their old one")
    subscription_revoke(subscription=theirs)
    assert "their old one" not in owner_client.get(reverse("dashboard:keys")).content.decode()


def test_opening_a_forms_target_directly_explains_instead_of_a_blank_405(owner_client, org):
    for url in ("/keys/new/", "/wallet/auto-recharge/"):
        response = owner_client.get(url)
        assert response.status_code == 405 and response["Allow"] == "POST"
        body = response.content.decode()
        assert "This address only takes a form" in body and "Nothing was changed." in body
        assert 'href="/"' in body  # a way on: the overview
    assert owner_client.put("/keys/new/").status_code == 405  # other methods: Django's own answer
