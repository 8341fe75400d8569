"""Issue a key set for an organization, or regenerate one slot of an existing set."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from accounts.models import ApiKey, Subscription
from accounts.selectors import organization_by_ref
from accounts.services import api_key_regenerate, subscription_create
from config.errors import ApplicationError


class Command(BaseCommand):
    help = "Create a named key set (prints both keys once), or with --regenerate replace one slot's key."

    def add_arguments(self, parser):
        parser.add_argument("organization", help="Organization slug or id.")
        parser.add_argument("--name", default="default", help="Subscription (key set) name.")
        parser.add_argument(
            "--regenerate", choices=ApiKey.Slot.values, default=None, help="Regenerate this slot of the existing set."
        )

    def handle(self, *args, organization, name, regenerate, **options):
        try:
            org = organization_by_ref(organization)
            if regenerate:
                subscription = Subscription.objects.filter(organization=org, name=name, revoked_at__isnull=True).first()
                if subscription is None:
                    raise CommandError(f"{org.slug} has no active subscription named {name!r}.")
                keys = {regenerate: api_key_regenerate(subscription=subscription, slot=regenerate)}
            else:
                keys = subscription_create(organization=org, name=name)[1]
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(f"Keys for {org.slug} / {name} — shown once, store them now:")
        for slot, key in keys.items():
            self.stdout.write(f"{slot}: {key}")
