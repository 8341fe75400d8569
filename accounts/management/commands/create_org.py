"""Create an organization with a wallet, optional credit, owner and first key set."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from accounts.services import organization_create, subscription_create
from billing.models import Plan
from config.errors import ApplicationError


class Command(BaseCommand):
    help = 'Create an organization: create_org "Acme" --credits 5000 --key-name default (prints the key once).'

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--slug", default=None)
        parser.add_argument("--credits", type=int, default=0, help="Initial credit in minor units (a top-up entry).")
        parser.add_argument("--plan", default=None, help="Plan code (default: the default plan).")
        parser.add_argument("--owner", default=None, help="Username of an existing user to make owner.")
        parser.add_argument(
            "--key-name", default=None, help="Also create a key set with this name and print its primary key."
        )

    def handle(self, *args, name, slug, credits, plan, owner, key_name, **options):
        plan_obj = None
        if plan:
            plan_obj = Plan.objects.filter(code=plan).first()
            if plan_obj is None:
                raise CommandError(f"No plan with code {plan!r}.")
        owner_obj = None
        if owner:
            owner_obj = get_user_model().objects.filter(username=owner).first()
            if owner_obj is None:
                raise CommandError(f"No user named {owner!r}.")
        try:
            organization = organization_create(
                name=name, slug=slug, plan=plan_obj, owner=owner_obj, initial_credit=credits
            )
            keys = subscription_create(organization=organization, name=key_name)[1] if key_name else None
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(
            f"Created organization {organization.name} (slug {organization.slug}, id {organization.id}), balance {organization.wallet.balance}."
        )
        if keys:
            self.stdout.write(f"Subscription key ({key_name}, primary) — shown once, store it now:")
            self.stdout.write(keys["primary"])
