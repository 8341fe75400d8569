"""Correct a wallet by a signed amount, with a reason (idempotent per --idempotency-key)."""

from __future__ import annotations

import uuid

from django.core.management.base import BaseCommand, CommandError

from accounts.selectors import organization_by_ref
from billing.services import wallet_adjust
from config.errors import ApplicationError


class Command(BaseCommand):
    help = (
        "Adjust a wallet by a signed amount (minor units), e.g. adjust_wallet acme -- -500 --reason 'refund reversal'."
    )

    def add_arguments(self, parser):
        parser.add_argument("organization", help="Organization slug or id.")
        parser.add_argument("amount", type=int, help="Signed minor units, not 0.")
        parser.add_argument("--reason", required=True)
        parser.add_argument("--idempotency-key", default=None, help="Default: a new uuid.")

    def handle(self, *args, organization, amount, reason, idempotency_key, **options):
        key = idempotency_key or f"cli-adjust:{uuid.uuid4()}"
        try:
            entry = wallet_adjust(
                organization=organization_by_ref(organization), amount=amount, idempotency_key=key, description=reason
            )
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(
            f"Ledger entry {entry.id} ({entry.idempotency_key}): balance {entry.balance_after}, held {entry.held_after}."
        )
