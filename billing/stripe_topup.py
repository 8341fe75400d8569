"""Wallet top-ups through Stripe Checkout. Switched on only when ``STRIPE_SECRET_KEY`` is set.

The checkout session carries the organization id in its metadata; the wallet is credited only
by the signed ``checkout.session.*`` webhook, never by the browser coming back, and the ledger
entry's idempotency key is the Stripe event id so a redelivered event credits nothing twice.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import stripe
from django.conf import settings

from accounts.models import Organization
from billing.models import LedgerEntry, Wallet
from billing.services import wallet_topup
from config.errors import ApplicationError, BadRequest, ServiceUnavailable

logger = logging.getLogger(__name__)

MIN_TOPUP = 500
MAX_TOPUP = 1_000_000
# Events after which a Checkout session's money has really arrived. A delayed payment method
# sends "completed" with payment_status "unpaid" first and "async_payment_succeeded" later.
CREDITING_EVENTS = {"checkout.session.completed", "checkout.session.async_payment_succeeded"}


class StripeNotConfigured(ServiceUnavailable):
    default_message = "Card top-ups are not configured on this deployment."


class InvalidStripeSignature(BadRequest):
    title = "Invalid Signature"
    default_message = "The Stripe signature did not verify."


def is_enabled() -> bool:
    return bool(settings.STRIPE_SECRET_KEY)


def checkout_session_create(
    *, organization: Organization, amount: int, success_url: str, cancel_url: str, customer_email: str = ""
) -> str:
    """Create a Checkout session for ``amount`` minor units and return the URL to send the payer to."""
    if not is_enabled():
        raise StripeNotConfigured()
    if not MIN_TOPUP <= amount <= MAX_TOPUP:
        raise BadRequest(f"A top-up must be between {MIN_TOPUP} and {MAX_TOPUP} minor units.")
    currency = Wallet.objects.filter(organization=organization).values_list("currency", flat=True).first() or "USD"
    params: dict[str, Any] = {
        "mode": "payment",
        "line_items": [
            {
                "quantity": 1,
                "price_data": {
                    "currency": currency.lower(),
                    "unit_amount": amount,
                    "product_data": {"name": f"Wallet top-up for {organization.name}"},
                },
            }
        ],
        "client_reference_id": str(organization.id),
        "metadata": {"organization_id": str(organization.id), "amount": str(amount)},
        "success_url": success_url,
        "cancel_url": cancel_url,
    }
    if customer_email:
        params["customer_email"] = customer_email
    try:
        session = stripe.checkout.Session.create(api_key=settings.STRIPE_SECRET_KEY, **params)
    except stripe.StripeError as exc:
        logger.warning("stripe checkout session failed: %s", exc)
        raise ServiceUnavailable("The payment provider could not be reached. Please try again.") from exc
    return session.url


def _organization_from(organization_id: str) -> Organization | None:
    try:
        return Organization.objects.filter(id=uuid.UUID(str(organization_id))).first()
    except ValueError:
        return None


def webhook_event_handle(*, payload: bytes, signature: str) -> LedgerEntry | None:
    """Verify a Stripe webhook and credit the wallet for a paid Checkout session.

    Returns the top-up entry (the first one again for a redelivered event) or None for events
    that move no money.
    """
    if not settings.STRIPE_WEBHOOK_SECRET:
        raise StripeNotConfigured("Stripe webhooks are not configured on this deployment.")
    try:
        event = stripe.Webhook.construct_event(payload, signature, settings.STRIPE_WEBHOOK_SECRET)
    except (ValueError, stripe.SignatureVerificationError) as exc:
        raise InvalidStripeSignature() from exc
    if event.type not in CREDITING_EVENTS:
        return None
    session = event.data.object
    if getattr(session, "payment_status", None) != "paid":
        return None
    metadata = getattr(session, "metadata", None)
    organization = _organization_from(metadata["organization_id"] if metadata and "organization_id" in metadata else "")
    if organization is None:
        raise ApplicationError(f"Checkout session {session.id} names no known organization.")
    wallet_currency = Wallet.objects.get(organization=organization).currency
    if str(session.currency).upper() != wallet_currency.upper():
        raise ApplicationError(
            f"Checkout session {session.id} is in {session.currency}, the wallet in {wallet_currency}."
        )
    return wallet_topup(
        organization=organization,
        amount=int(session.amount_total),
        idempotency_key=f"stripe:{event.id}",
        description=f"Stripe Checkout {session.id}",
    )
