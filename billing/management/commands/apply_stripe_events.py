"""Apply stored Stripe events that are not applied yet (they waited for an earlier event)."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from billing.models import StripeEvent
from billing.payments.webhooks import events_apply_pending


class Command(BaseCommand):
    help = "Apply every stored, unprocessed Stripe event that can be applied now; list the rest."

    def handle(self, *args, **options):
        applied = events_apply_pending()
        waiting = StripeEvent.objects.filter(processed_at__isnull=True).order_by("created")
        for event in waiting:
            self.stdout.write(f"waiting: {event.id} {event.type} ({event.deliveries} deliveries)")
        self.stdout.write(f"Applied {applied}; {waiting.count()} still waiting.")
