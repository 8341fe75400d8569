"""The Stripe webhook: verify, store every event by id, apply each exactly once.

Storing and applying are two steps. The event row is written first (a redelivery only counts
itself), then applied in a transaction that locks that row, checks ``processed_at`` and sets it
together with the money it moves: a duplicate delivered at the same moment waits for the lock
and finds the event done. An event that cannot be applied yet (a refund of a payment whose own
event has not arrived and that names no organization) stays unprocessed and answers 503, so
Stripe delivers it again later. Order between events is handled by the handlers (keys per
session, invoice and charge; subscription events older than the last one applied are ignored).
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

import stripe
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from billing.models import StripeEvent
from billing.payments import events
from billing.payments.client import InvalidStripeSignature, StripeNotConfigured

logger = logging.getLogger(__name__)


def webhook_receive(*, payload: bytes, signature: str) -> StripeEvent:
    """Verify the signature with the ``stripe`` library, store the event and apply it."""
    if not settings.STRIPE_WEBHOOK_SECRET:
        raise StripeNotConfigured("Stripe webhooks are not configured on this deployment.")
    try:
        stripe.Webhook.construct_event(payload, signature, settings.STRIPE_WEBHOOK_SECRET)
        data = json.loads(payload)
    except (ValueError, stripe.SignatureVerificationError) as exc:
        raise InvalidStripeSignature() from exc
    record = event_store(data)
    if record.processed_at is None:
        record = event_apply(event_id=record.id)
    return record


def event_store(data: dict) -> StripeEvent:
    event_id = str(data.get("id") or "")
    if not event_id:
        raise InvalidStripeSignature("The event has no id.")
    existing = StripeEvent.objects.filter(id=event_id).first()
    if existing is not None:
        StripeEvent.objects.filter(id=event_id).update(deliveries=F("deliveries") + 1)
        return existing
    record = StripeEvent(
        id=event_id,
        type=str(data.get("type") or "")[:100],
        created=datetime.fromtimestamp(int(data.get("created") or 0), tz=UTC),
        livemode=bool(data.get("livemode")),
        payload=data,
    )
    try:
        with transaction.atomic():
            record.save(force_insert=True)
    except IntegrityError:
        return StripeEvent.objects.get(id=event_id)  # a concurrent delivery stored it first
    return record


def event_apply(*, event_id: str) -> StripeEvent:
    """Apply a stored event once. Raises EventNotReady (503) to be delivered again later."""
    with transaction.atomic():
        record = StripeEvent.objects.select_for_update().get(id=event_id)
        if record.processed_at is not None:
            return record
        handler = events.HANDLERS.get(record.type)
        obj = (record.payload.get("data") or {}).get("object") or {}
        if handler is None:
            outcome, organization = "ignored", None
        else:
            try:
                with transaction.atomic():
                    outcome, organization = handler(obj, record)
            except events.EventRejected as exc:
                # Permanently unusable (names no organization we know, wrong currency): record
                # why and acknowledge, since a redelivery would be just as unusable.
                logger.warning("stripe event %s rejected: %s", record.id, exc)
                outcome, organization = f"rejected: {exc}", None
        record.processed_at = timezone.now()
        record.outcome = str(outcome)[:300]
        record.organization = organization
        record.save(update_fields=["processed_at", "outcome", "organization"])
        return record


def events_apply_pending() -> int:
    """Apply stored events that are still unprocessed (an operator's or a sweep's retry)."""
    applied = 0
    for event_id in (
        StripeEvent.objects.filter(processed_at__isnull=True).order_by("created").values_list("id", flat=True)
    ):
        try:
            event_apply(event_id=event_id)
            applied += 1
        except events.EventNotReady:
            continue
    return applied
