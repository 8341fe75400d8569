"""Revoke a key set by name, or a single key by its public prefix."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from accounts.models import ApiKey, Subscription
from accounts.selectors import organization_by_ref
from accounts.services import api_key_revoke, subscription_revoke
from config.errors import ApplicationError


class Command(BaseCommand):
    help = "Revoke a subscription (--name, both keys) or one key (--prefix). Revoked keys answer 403."

    def add_arguments(self, parser):
        parser.add_argument("organization", help="Organization slug or id.")
        target = parser.add_mutually_exclusive_group(required=True)
        target.add_argument("--name", help="Subscription (key set) name.")
        target.add_argument("--prefix", help="The 12-character public prefix of one key (cf_<prefix>_...).")

    def handle(self, *args, organization, name, prefix, **options):
        try:
            org = organization_by_ref(organization)
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        if name:
            subscription = Subscription.objects.filter(organization=org, name=name, revoked_at__isnull=True).first()
            if subscription is None:
                raise CommandError(f"{org.slug} has no active subscription named {name!r}.")
            subscription_revoke(subscription=subscription)
            self.stdout.write(f"Revoked subscription {name!r} of {org.slug} (both keys).")
            return
        api_key = ApiKey.objects.filter(organization=org, prefix=prefix).first()
        if api_key is None:
            raise CommandError(f"{org.slug} has no key with prefix {prefix!r}.")
        api_key_revoke(api_key=api_key)
        self.stdout.write(f"Revoked key cf_{prefix}_… of {org.slug}.")
