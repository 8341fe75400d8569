"""The one place that talks to Stripe's API; its errors become our 503."""

from __future__ import annotations

import logging

import stripe
from django.conf import settings

from config.errors import BadRequest, ServiceUnavailable

logger = logging.getLogger(__name__)


class StripeNotConfigured(ServiceUnavailable):
    default_message = "Card payments are not configured on this deployment."


class InvalidStripeSignature(BadRequest):
    title = "Invalid Signature"
    default_message = "The Stripe signature did not verify."


class PaymentProviderError(ServiceUnavailable):
    default_message = "The payment provider could not be reached. Please try again."


def is_enabled() -> bool:
    return bool(settings.STRIPE_SECRET_KEY)


def require_enabled() -> None:
    if not is_enabled():
        raise StripeNotConfigured()


def stripe_call(resource, method: str, **params):
    """``resource.method(**params)`` with our API key; StripeError (other than a card decline,
    which the caller handles) becomes PaymentProviderError."""
    require_enabled()
    try:
        return getattr(resource, method)(api_key=settings.STRIPE_SECRET_KEY, **params)
    except stripe.CardError:
        raise
    except stripe.StripeError as exc:
        logger.warning("stripe %s.%s failed: %s", getattr(resource, "OBJECT_NAME", resource), method, exc)
        raise PaymentProviderError() from exc
