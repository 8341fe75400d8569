"""The key look-up behind every keyed request: one query, and the same objects the ORM would build."""

from __future__ import annotations

import pytest
from django.forms.models import model_to_dict

from accounts.key_lookup import api_key_with_tenant
from accounts.keys import KEY_PATTERN
from accounts.models import ApiKey
from billing.models import BillingAccount, KeySpendLimit


def prefix_of(key: str) -> str:
    return KEY_PATTERN.match(key).group(1)


def fields(instance) -> dict:
    return model_to_dict(instance, fields=[f.name for f in instance._meta.concrete_fields])


def test_it_loads_the_key_and_its_tenant_in_one_query_and_caches_a_missing_row_as_none(
    org, keyset, django_assert_num_queries
):
    _, keys = keyset
    with django_assert_num_queries(1):
        api_key = api_key_with_tenant(prefix_of(keys["primary"]))
    with django_assert_num_queries(0):
        assert api_key.organization == org and api_key.organization.plan == org.plan
        assert api_key.organization.wallet.balance == 1000
        assert api_key.subscription.revoked_at is None
        with pytest.raises(BillingAccount.DoesNotExist):
            api_key.organization.billing_account  # noqa: B018 - the access is the test
        with pytest.raises(KeySpendLimit.DoesNotExist):
            api_key.subscription.spend_limit  # noqa: B018


def test_every_field_reads_as_the_orm_reads_it(org, keyset, django_assert_num_queries):
    subscription, keys = keyset
    BillingAccount.objects.create(organization=org, monthly_spend_limit=5000, low_balance_threshold=10)
    KeySpendLimit.objects.create(subscription=subscription, monthly_limit=700)
    prefix = prefix_of(keys["secondary"])
    expected = ApiKey.objects.select_related(
        "subscription__spend_limit", "organization__plan", "organization__wallet", "organization__billing_account"
    ).get(prefix=prefix)
    with django_assert_num_queries(1):
        loaded = api_key_with_tenant(prefix)
    with django_assert_num_queries(0):
        pairs = [
            (loaded, expected),
            (loaded.subscription, expected.subscription),
            (loaded.subscription.spend_limit, expected.subscription.spend_limit),
            (loaded.organization, expected.organization),
            (loaded.organization.plan, expected.organization.plan),
            (loaded.organization.wallet, expected.organization.wallet),
            (loaded.organization.billing_account, expected.organization.billing_account),
        ]
        for got, want in pairs:
            assert type(got) is type(want) and fields(got) == fields(want)
            assert not got._state.adding
        # Both sides of a one-to-one are cached, as select_related does.
        assert loaded.organization.billing_account.organization is loaded.organization


def test_an_unknown_prefix_is_none(db):
    assert api_key_with_tenant("zzzzzzzzzzzz") is None
