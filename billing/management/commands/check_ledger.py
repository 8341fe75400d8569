"""Reconcile every wallet with its ledger, its jobs and its Stripe payments; exit non-zero on any
difference (see billing.reconcile)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from accounts.selectors import organization_by_ref
from billing.reconcile import reconcile
from config.errors import ApplicationError


class Command(BaseCommand):
    # Read-only and run from cron: it must report on the money even when an unrelated part of the
    # project fails its system checks.
    requires_system_checks = []
    help = (
        "Check balance == sum(amount), held == sum(held_change) == open holds == price of jobs in flight, "
        "captures == price of COMPLETED jobs, and every Stripe payment in the ledger once, for every wallet."
    )

    def add_arguments(self, parser):
        parser.add_argument("--organization", default=None, help="Only this organization (slug or id).")

    def handle(self, *args, organization, **options):
        try:
            org = organization_by_ref(organization) if organization else None
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        problems = [str(difference) for difference in reconcile(organization=org)]
        for problem in problems:
            self.stdout.write(problem)
        if problems:
            noun = "discrepancy" if len(problems) == 1 else "discrepancies"
            raise CommandError(f"{len(problems)} ledger {noun} found.")
        self.stdout.write("Ledger OK: every wallet matches its entries.")
