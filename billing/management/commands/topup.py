"""Top up an organization's wallet (idempotent per --idempotency-key)."""

from __future__ import annotations

import uuid

from django.core.management.base import BaseCommand, CommandError

from accounts.selectors import organization_by_ref
from billing.services import wallet_topup
from config.errors import ApplicationError


class Command(BaseCommand):
    help = "Add credit (minor units) to a wallet. Re-running with the same --idempotency-key adds nothing."

    def add_arguments(self, parser):
        parser.add_argument("organization", help="Organization slug or id.")
        parser.add_argument("amount", type=int, help="Minor units, > 0.")
        parser.add_argument("--description", default="Top-up by operator")
        parser.add_argument("--idempotency-key", default=None, help="Default: a new uuid.")

    def handle(self, *args, organization, amount, description, idempotency_key, **options):
        key = idempotency_key or f"cli-topup:{uuid.uuid4()}"
        try:
            entry = wallet_topup(
                organization=organization_by_ref(organization),
                amount=amount,
                idempotency_key=key,
                description=description,
            )
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(
            f"Ledger entry {entry.id} ({entry.idempotency_key}): balance {entry.balance_after}, held {entry.held_after}."
        )
