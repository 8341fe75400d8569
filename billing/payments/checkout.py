"""Checkout sessions (top-up, subscription) and the customer portal."""

from __future__ import annotations

from typing import Any

import stripe
from django.conf import settings
from django.db import transaction

from accounts.models import Organization
from billing.models import BillingAccount, Payment, Plan, Wallet
from billing.money import format_money
from billing.payments.client import require_enabled, stripe_call
from billing.selectors import billing_account_for
from config.errors import BadRequest, NotFound


def topup_bounds() -> tuple[int, int]:
    return settings.TOPUP_MIN_AMOUNT, settings.TOPUP_MAX_AMOUNT


def _currency(organization: Organization) -> str:
    return Wallet.objects.filter(organization=organization).values_list("currency", flat=True).first() or "USD"


def customer_for(organization: Organization, *, email: str = "") -> str:
    """The organization's Stripe customer id, created once (a lock on the account row keeps two
    first payments from making two customers)."""
    require_enabled()
    billing_account_for(organization)
    with transaction.atomic():
        account = BillingAccount.objects.select_for_update().get(organization=organization)
        if account.stripe_customer_id:
            return account.stripe_customer_id
        customer = stripe_call(
            stripe.Customer,
            "create",
            name=account.billing_name or organization.name,
            email=account.billing_email or email or None,
            metadata={"organization_id": str(organization.id)},
            idempotency_key=f"customer:{organization.id}",
        )
        account.stripe_customer_id = customer.id
        account.save(update_fields=["stripe_customer_id", "updated_at"])
        return customer.id


def topup_session_create(
    *, organization: Organization, amount: int, success_url: str, cancel_url: str, customer_email: str = ""
) -> str:
    """A Checkout session for ``amount`` minor units; returns the URL to send the payer to. The
    card is saved for later off-session use, so it can serve auto-recharge."""
    require_enabled()
    low, high = topup_bounds()
    if not isinstance(amount, int) or not low <= amount <= high:
        currency = _currency(organization)
        raise BadRequest(f"A top-up must be between {format_money(low, currency)} and {format_money(high, currency)}.")
    currency = _currency(organization)
    metadata = {"organization_id": str(organization.id), "kind": Payment.Kind.TOPUP, "amount": str(amount)}
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
        "metadata": metadata,
        # Refunds and disputes name the charge; its PaymentIntent carries the organization.
        "payment_intent_data": {"metadata": metadata, "setup_future_usage": "off_session"},
        "success_url": success_url,
        "cancel_url": cancel_url,
    }
    account = BillingAccount.objects.filter(organization=organization).first()
    if account and account.stripe_customer_id:
        params["customer"] = account.stripe_customer_id
    else:
        params["customer_creation"] = "always"
        if customer_email:
            params["customer_email"] = customer_email
    session = stripe_call(stripe.checkout.Session, "create", **params)
    Payment.objects.get_or_create(
        stripe_checkout_session_id=session.id,
        defaults={
            "organization": organization,
            "kind": Payment.Kind.TOPUP,
            "amount": amount,
            "currency": currency,
            "description": "Wallet top-up",
        },
    )
    return session.url


def subscription_session_create(
    *, organization: Organization, plan_code: str, success_url: str, cancel_url: str, customer_email: str = ""
) -> str:
    """A Checkout session in subscription mode for a paid plan with a Stripe price."""
    require_enabled()
    plan = Plan.objects.filter(code=plan_code, is_public=True).first()
    if plan is None:
        raise NotFound("No such plan.")
    if not plan.is_paid or not plan.stripe_price_id:
        raise BadRequest(f"The {plan.name} plan cannot be bought by card.")
    metadata = {"organization_id": str(organization.id), "plan": plan.code}
    session = stripe_call(
        stripe.checkout.Session,
        "create",
        mode="subscription",
        customer=customer_for(organization, email=customer_email),
        line_items=[{"price": plan.stripe_price_id, "quantity": 1}],
        client_reference_id=str(organization.id),
        metadata=metadata,
        subscription_data={"metadata": metadata},
        success_url=success_url,
        cancel_url=cancel_url,
    )
    return session.url


def portal_session_create(*, organization: Organization, return_url: str) -> str:
    """Stripe's customer portal: cards, invoices, cancelling the subscription."""
    require_enabled()
    account = BillingAccount.objects.filter(organization=organization).first()
    if account is None or not account.stripe_customer_id:
        raise BadRequest("There is no card or subscription to manage yet.")
    session = stripe_call(
        stripe.billing_portal.Session, "create", customer=account.stripe_customer_id, return_url=return_url
    )
    return session.url
