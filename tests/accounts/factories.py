"""Factories other test packages may import: organizations (with a wallet), users, keys.

org = OrganizationFactory(initial_credit=1000)          # through accounts.services.organization_create
user = UserFactory()                                     # a plain django.contrib.auth user
owner_org = OrganizationFactory(owner=user)             # user becomes the owner
subscription, key = make_key(org)                       # key = the primary's full key
"""

from __future__ import annotations

import factory
from django.contrib.auth import get_user_model

from accounts.models import Organization, Subscription
from accounts.services import organization_create, subscription_create

DEFAULT_PASSWORD = "correct horse battery staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.PostGenerationMethodCall("set_password", DEFAULT_PASSWORD)

    @factory.post_generation
    def _save_password(obj, create, extracted, **kwargs):
        if create:
            obj.save(update_fields=["password"])


class OrganizationFactory(factory.Factory):
    """Builds through ``organization_create``, so every organization has a wallet, a webhook
    secret and (when ``initial_credit`` > 0) a top-up ledger entry."""

    class Meta:
        model = Organization

    name = factory.Sequence(lambda n: f"Organization {n}")
    slug = None
    plan = None
    owner = None
    initial_credit = 0

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        return organization_create(**kwargs)

    @classmethod
    def _build(cls, model_class, *args, **kwargs):
        raise NotImplementedError("OrganizationFactory only creates (an organization needs its wallet)")


def make_key(org: Organization, name: str = "default") -> tuple[Subscription, str]:
    """A new subscription for ``org``; returns it with its primary key in full."""
    subscription, keys = subscription_create(organization=org, name=name)
    return subscription, keys["primary"]


def make_keys(org: Organization, name: str = "default") -> tuple[Subscription, dict[str, str]]:
    """Like make_key but returns both slots' full keys."""
    return subscription_create(organization=org, name=name)
