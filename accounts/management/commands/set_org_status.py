"""Suspend or reactivate an organization."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from accounts.models import Organization
from accounts.selectors import organization_by_ref
from accounts.services import organization_set_status
from config.errors import ApplicationError


class Command(BaseCommand):
    help = "Set an organization's status: active, or suspended (its keys then answer 403)."

    def add_arguments(self, parser):
        parser.add_argument("organization", help="Organization slug or id.")
        parser.add_argument("status", choices=Organization.Status.values)

    def handle(self, *args, organization, status, **options):
        try:
            org = organization_set_status(organization=organization_by_ref(organization), status=status)
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(f"{org.slug} is now {org.status}.")
