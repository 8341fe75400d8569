"""Subscription keys: format, storage, the three ways of presenting one, and every refusal."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory
from rest_framework.views import APIView

from accounts.keys import KEY_PATTERN, authenticate_key, key_digest
from accounts.models import ApiKey, Organization
from accounts.services import (
    api_key_regenerate,
    api_key_revoke,
    organization_set_status,
    subscription_create,
    subscription_revoke,
)
from config.errors import Forbidden, Unauthorized
from tests.accounts.factories import OrganizationFactory, make_key

factory = APIRequestFactory()


class WhoAmI(APIView):
    from accounts.authentication import SubscriptionKeyAuthentication

    authentication_classes = [SubscriptionKeyAuthentication]

    def get(self, request):
        return Response({"organization": str(request.user.organization.id), "key": request.auth.prefix})


def call(**kwargs):
    path = kwargs.pop("path", "/whoami")
    response = WhoAmI.as_view()(factory.get(path, **kwargs))
    response.render()
    return response


def test_a_key_is_shown_once_and_only_its_digest_is_stored(org):
    subscription, keys = subscription_create(organization=org, name="ci")
    assert set(keys) == {"primary", "secondary"}
    for slot, key in keys.items():
        match = KEY_PATTERN.match(key)
        assert match, key
        row = ApiKey.objects.get(subscription=subscription, slot=slot)
        assert row.prefix == match.group(1)
        assert row.digest == key_digest(key)
        assert key not in {row.digest, row.prefix}
    assert keys["primary"] != keys["secondary"]


@pytest.mark.parametrize(
    "how",
    ["ocp_header", "bearer", "query"],
)
def test_the_key_is_accepted_in_the_header_as_a_bearer_token_and_as_a_query_parameter(org, keyset, how):
    _, keys = keyset
    key = keys["primary"]
    if how == "ocp_header":
        response = call(HTTP_OCP_APIM_SUBSCRIPTION_KEY=key)
    elif how == "bearer":
        response = call(HTTP_AUTHORIZATION=f"Bearer {key}")
    else:
        response = call(path=f"/whoami?subscription-key={key}")
    assert response.status_code == 200
    assert response.data == {"organization": str(org.id), "key": KEY_PATTERN.match(key).group(1)}


def test_the_secondary_key_works_as_well_as_the_primary(org, keyset):
    _, keys = keyset
    assert call(HTTP_OCP_APIM_SUBSCRIPTION_KEY=keys["secondary"]).status_code == 200


def test_a_missing_key_is_401_in_the_gateway_error_shape(db):
    response = call()
    assert response.status_code == 401
    assert response.data["error"] == "Unauthorized"
    assert "missing subscription key" in response.data["message"]
    assert set(response.data) == {"error", "message"}


@pytest.mark.parametrize(
    "raw",
    [
        "not-a-key",
        "cf_short_abc",
        "cf_abcdefghijkl_" + "x" * 31,  # secret one character short
        "cf_ABCDEFGHIJKL_" + "x" * 32,  # upper-case prefix
        "cf_abcdefghijkl_" + "x" * 32,  # well formed, unknown prefix
    ],
)
def test_a_malformed_or_unknown_key_is_401(db, raw):
    response = call(HTTP_OCP_APIM_SUBSCRIPTION_KEY=raw)
    assert response.status_code == 401
    assert response.data["error"] == "Unauthorized"
    assert "invalid subscription key" in response.data["message"]


def test_a_known_prefix_with_the_wrong_secret_is_401_not_403(org, keyset):
    _, keys = keyset
    prefix = KEY_PATTERN.match(keys["primary"]).group(1)
    forged = f"cf_{prefix}_{'A' * 32}"
    with pytest.raises(Unauthorized):
        authenticate_key(forged)
    # Even for a revoked key, a wrong secret learns nothing about the row.
    subscription_revoke(subscription=keyset[0])
    with pytest.raises(Unauthorized):
        authenticate_key(forged)


def test_a_non_bearer_authorization_header_counts_as_no_key(db):
    response = call(HTTP_AUTHORIZATION="Basic dXNlcjpwYXNz")
    assert response.status_code == 401


def test_a_revoked_subscription_answers_403_for_both_keys(org, keyset):
    subscription, keys = keyset
    subscription_revoke(subscription=subscription)
    for key in keys.values():
        response = call(HTTP_OCP_APIM_SUBSCRIPTION_KEY=key)
        assert response.status_code == 403
        assert response.data == {"error": "Forbidden", "message": "This subscription key has been revoked."}


def test_revoking_one_key_leaves_the_other_slot_working(org, keyset):
    subscription, keys = keyset
    api_key_revoke(api_key=subscription.keys.get(slot="primary"))
    with pytest.raises(Forbidden):
        authenticate_key(keys["primary"])
    assert authenticate_key(keys["secondary"]).slot == "secondary"


def test_a_suspended_organization_answers_403_and_reactivation_restores_access(org, keyset):
    _, keys = keyset
    organization_set_status(organization=org, status=Organization.Status.SUSPENDED)
    response = call(HTTP_OCP_APIM_SUBSCRIPTION_KEY=keys["primary"])
    assert response.status_code == 403
    assert response.data["error"] == "Forbidden"
    assert "suspended" in response.data["message"]
    organization_set_status(organization=org, status=Organization.Status.ACTIVE)
    assert call(HTTP_OCP_APIM_SUBSCRIPTION_KEY=keys["primary"]).status_code == 200


def test_regenerating_one_slot_revokes_its_old_key_and_keeps_the_other_slot_working(org, keyset):
    subscription, keys = keyset
    old_row = subscription.keys.get(slot="primary")
    new_primary = api_key_regenerate(subscription=subscription, slot="primary")

    with pytest.raises(Forbidden):
        authenticate_key(keys["primary"])
    assert authenticate_key(new_primary).slot == "primary"
    assert authenticate_key(keys["secondary"]).slot == "secondary"
    # The old row stays for the audit trail, marked revoked.
    old_row.refresh_from_db()
    assert old_row.revoked_at is not None
    assert subscription.keys.filter(slot="primary").count() == 2
    assert subscription.keys.filter(slot="primary", revoked_at__isnull=True).count() == 1


def test_last_used_at_is_recorded_and_written_at_most_once_a_minute(org, keyset):
    subscription, keys = keyset
    row = subscription.keys.get(slot="primary")
    assert row.last_used_at is None

    authenticate_key(keys["primary"])
    row.refresh_from_db()
    first = row.last_used_at
    assert first is not None

    authenticate_key(keys["primary"])
    row.refresh_from_db()
    assert row.last_used_at == first  # within the minute: no write

    an_hour_ago = timezone.now() - timedelta(hours=1)
    ApiKey.objects.filter(pk=row.pk).update(last_used_at=an_hour_ago)
    authenticate_key(keys["primary"])
    row.refresh_from_db()
    assert row.last_used_at > an_hour_ago
    # The other slot was never used.
    assert subscription.keys.get(slot="secondary").last_used_at is None


def test_a_key_authenticates_as_its_own_organization_only(org, other_org):
    _, own_key = make_key(org, name="mine")
    _, other_key = make_key(other_org, name="theirs")
    assert authenticate_key(own_key).organization == org
    assert authenticate_key(other_key).organization == other_org


def test_the_pepper_is_part_of_the_digest(org, keyset, settings):
    _, keys = keyset
    settings.API_KEY_PEPPER = "another pepper"
    with pytest.raises(Unauthorized):
        authenticate_key(keys["primary"])


def test_suspension_is_read_on_every_request_not_remembered_from_an_earlier_one(db):
    """Suspension is read from the row on every request, not cached on the key."""
    org = OrganizationFactory()
    _, key = make_key(org)
    authenticate_key(key)
    Organization.objects.filter(pk=org.pk).update(status=Organization.Status.SUSPENDED)
    with pytest.raises(Forbidden):
        authenticate_key(key)


def test_a_suspended_organization_cannot_make_a_new_key(org):
    from accounts.errors import OrganizationSuspended
    from accounts.models import Subscription

    organization_set_status(organization=org, status=Organization.Status.SUSPENDED)
    before = Subscription.objects.filter(organization=org).count()
    with pytest.raises(OrganizationSuspended) as refused:
        subscription_create(organization=org, name="a way round")
    assert refused.value.status_code == 403
    assert "no new key can be made until staff reactivate it" in refused.value.message
    assert Subscription.objects.filter(organization=org).count() == before
