"""One handler per Stripe event type. Each takes the event's object (a dict) and the stored
event, runs inside the transaction that marks the event processed, and returns
``(outcome, organization)``.

Every movement of money is keyed by what it is about (checkout session, invoice, charge and
refunded total, dispute), never by the event id: two different events about the same payment
(``checkout.session.completed`` then ``async_payment_succeeded``) credit it once.
"""

from __future__ import annotations

import uuid

from django.db.models import Sum
from django.utils import timezone

from accounts.models import Organization
from accounts.services import default_plan
from billing.models import BillingAccount, BillingAlert, LedgerEntry, Payment, Plan, StripeEvent, Wallet
from billing.money import format_money
from billing.notify import notice_send
from billing.plans import plan_change
from billing.selectors import billing_account_for, wallet_for_update
from billing.services import wallet_debit_external, wallet_topup
from config.errors import ServiceUnavailable

Kind = LedgerEntry.Kind


class EventNotReady(ServiceUnavailable):
    """The event refers to something we have not heard of yet; Stripe will deliver it again."""

    default_message = "This event cannot be applied yet; deliver it again later."


class EventRejected(Exception):
    """The event can never be applied (unknown organization, wrong currency)."""


# --- finding the organization -------------------------------------------------------------------


def _organization(organization_id) -> Organization | None:
    try:
        return Organization.objects.filter(id=uuid.UUID(str(organization_id))).first()
    except (ValueError, TypeError):
        return None


def _metadata_org(obj: dict) -> Organization | None:
    metadata = obj.get("metadata") or {}
    return _organization(metadata.get("organization_id") or obj.get("client_reference_id"))


def _customer_org(customer_id) -> Organization | None:
    if not customer_id:
        return None
    account = BillingAccount.objects.select_related("organization").filter(stripe_customer_id=customer_id).first()
    return account.organization if account else None


def _payment_for_charge(*, charge_id: str = "", payment_intent: str = "") -> Payment | None:
    payment = None
    if payment_intent:
        payment = Payment.objects.filter(stripe_payment_intent_id=payment_intent).first()
    if payment is None and charge_id:
        payment = Payment.objects.filter(stripe_charge_id=charge_id).first()
    return payment


def _check_currency(organization: Organization, currency: str, what: str) -> None:
    wallet_currency = Wallet.objects.get(organization=organization).currency
    if str(currency or "").upper() != wallet_currency.upper():
        raise EventRejected(f"{what} is in {currency}, the wallet in {wallet_currency}")


def _reset_low_balance(organization: Organization) -> None:
    """A credit re-arms the low-balance alert once the balance is back over its threshold."""
    from billing.alerts import low_balance_rearm

    low_balance_rearm(organization=organization)


# --- Checkout (top-ups, and the start of a subscription) ------------------------------------------


def checkout_completed(obj: dict, event: StripeEvent):
    organization = _metadata_org(obj)
    if organization is None:
        raise EventRejected(f"checkout session {obj.get('id')} names no known organization")
    _remember_customer(organization, obj.get("customer"))
    if obj.get("mode") == "subscription":
        account = billing_account_for(organization)
        if obj.get("subscription") and not account.stripe_subscription_id:
            account.stripe_subscription_id = str(obj["subscription"])
            account.save(update_fields=["stripe_subscription_id", "updated_at"])
        return "subscription checkout completed", organization
    if obj.get("payment_status") != "paid":
        _payment_upsert(organization, obj)
        return "awaiting the asynchronous payment", organization
    return _topup_paid(organization, obj), organization


def checkout_async_succeeded(obj: dict, event: StripeEvent):
    organization = _metadata_org(obj)
    if organization is None:
        raise EventRejected(f"checkout session {obj.get('id')} names no known organization")
    if obj.get("payment_status") != "paid":
        return "not paid", organization
    return _topup_paid(organization, obj), organization


def checkout_async_failed(obj: dict, event: StripeEvent):
    organization = _metadata_org(obj)
    if organization is None:
        raise EventRejected(f"checkout session {obj.get('id')} names no known organization")
    payment = _payment_upsert(organization, obj)
    if payment.status == Payment.Status.PENDING:
        payment.status = Payment.Status.FAILED
        payment.failure_message = "The payment did not go through."
        payment.save(update_fields=["status", "failure_message"])
        _payment_failed_notice(payment)
    return "top-up payment failed", organization


def checkout_expired(obj: dict, event: StripeEvent):
    organization = _metadata_org(obj)
    Payment.objects.filter(stripe_checkout_session_id=obj.get("id"), status=Payment.Status.PENDING).update(
        failure_message="The checkout session expired unpaid."
    )
    return "checkout expired", organization


def _remember_customer(organization: Organization, customer_id) -> None:
    if not customer_id:
        return
    account = billing_account_for(organization)
    if not account.stripe_customer_id:
        account.stripe_customer_id = str(customer_id)
        account.save(update_fields=["stripe_customer_id", "updated_at"])


def _payment_upsert(organization: Organization, session: dict) -> Payment:
    payment, _ = Payment.objects.get_or_create(
        stripe_checkout_session_id=session["id"],
        defaults={
            "organization": organization,
            "kind": Payment.Kind.TOPUP,
            "amount": int(session.get("amount_total") or 0),
            "currency": str(session.get("currency") or "usd").upper(),
            "description": "Wallet top-up",
        },
    )
    if payment.organization_id != organization.id:
        raise EventRejected(f"checkout session {session['id']} belongs to another organization")
    pi = session.get("payment_intent")
    if pi and not payment.stripe_payment_intent_id:
        payment.stripe_payment_intent_id = str(pi)
        payment.save(update_fields=["stripe_payment_intent_id"])
    return payment


def _topup_paid(organization: Organization, session: dict) -> str:
    _check_currency(organization, session.get("currency"), f"checkout session {session['id']}")
    amount = int(session.get("amount_total") or 0)
    if amount <= 0:
        raise EventRejected(f"checkout session {session['id']} has no amount")
    payment = _payment_upsert(organization, session)
    entry = wallet_topup(
        organization=organization,
        amount=amount,
        idempotency_key=f"stripe:checkout:{session['id']}",
        description=f"Card top-up (Stripe Checkout {session['id']})",
    )
    _payment_succeeded(payment, amount=amount, credit=amount, entry=entry)
    return f"credited {amount}"


def _payment_succeeded(payment: Payment, *, amount: int, credit: int, entry: LedgerEntry | None) -> None:
    if payment.status == Payment.Status.SUCCEEDED:
        return
    payment.status = Payment.Status.SUCCEEDED
    payment.amount = amount
    payment.credit = credit
    payment.ledger_entry = entry
    payment.paid_at = timezone.now()
    payment.failure_message = ""
    payment.save()
    _receipt_from_stored_charge(payment)
    _reset_low_balance(payment.organization)
    notice_send(
        organization=payment.organization,
        kind=BillingAlert.Kind.PAYMENT_RECEIVED,
        key=f"payment:{payment.id}",
        subject="Payment received",
        message=f"We received your payment of {format_money(amount, payment.currency)}; "
        f"{format_money(credit, payment.currency)} was added to your wallet. Receipt {payment.number}.",
        data={"payment_id": str(payment.id), "amount": amount, "credit": credit, "currency": payment.currency},
    )


def _payment_failed_notice(payment: Payment) -> None:
    notice_send(
        organization=payment.organization,
        kind=BillingAlert.Kind.PAYMENT_FAILED,
        key=f"payment:{payment.id}",
        subject="Payment failed",
        message=f"A {payment.get_kind_display().lower()} payment of "
        f"{format_money(payment.amount, payment.currency)} failed: {payment.failure_message or 'declined'}.",
        data={"payment_id": str(payment.id), "amount": payment.amount, "reason": payment.failure_message},
    )


# --- Charges: receipts, refunds, disputes --------------------------------------------------------


def charge_succeeded(obj: dict, event: StripeEvent):
    payment = _payment_for_charge(charge_id=obj.get("id", ""), payment_intent=obj.get("payment_intent") or "")
    if payment is None:
        # The payment's own event has not arrived yet; _receipt_from_stored_charge reads this
        # stored event when it does.
        return "receipt kept until its payment arrives", _metadata_org(obj)
    _receipt_apply(payment, obj)
    return "receipt recorded", payment.organization


def _receipt_apply(payment: Payment, charge: dict) -> None:
    payment.stripe_charge_id = str(charge.get("id") or payment.stripe_charge_id)
    payment.receipt_url = str(charge.get("receipt_url") or payment.receipt_url)
    payment.save(update_fields=["stripe_charge_id", "receipt_url"])


def _receipt_from_stored_charge(payment: Payment) -> None:
    if not payment.stripe_payment_intent_id or payment.receipt_url:
        return
    stored = StripeEvent.objects.filter(
        type="charge.succeeded", payload__data__object__payment_intent=payment.stripe_payment_intent_id
    ).first()
    if stored is not None:
        _receipt_apply(payment, stored.payload["data"]["object"])


def _charge_org(charge_id: str, payment_intent: str, obj: dict) -> tuple[Organization, Payment | None]:
    payment = _payment_for_charge(charge_id=charge_id, payment_intent=payment_intent)
    organization = payment.organization if payment else _metadata_org(obj)
    if organization is None:
        raise EventNotReady(f"No payment known for charge {charge_id} yet.")
    return organization, payment


def charge_refunded(obj: dict, event: StripeEvent):
    charge_id = str(obj.get("id") or "")
    organization, payment = _charge_org(charge_id, obj.get("payment_intent") or "", obj)
    refunded = int(obj.get("amount_refunded") or 0)
    # Under the wallet lock: two refund events of one charge cannot both take the same delta.
    wallet_for_update(organization)
    prefix = f"stripe:refund:{charge_id}:"
    already = -(
        LedgerEntry.objects.filter(
            organization=organization, kind=Kind.REFUND, idempotency_key__startswith=prefix
        ).aggregate(s=Sum("amount"))["s"]
        or 0
    )
    delta = refunded - already
    if payment is not None and refunded > payment.amount_refunded:
        Payment.objects.filter(id=payment.id).update(amount_refunded=refunded)
    if delta <= 0:
        return f"refund total {refunded} already applied", organization
    wallet_debit_external(
        organization=organization,
        amount=delta,
        idempotency_key=f"{prefix}{refunded}",
        kind=Kind.REFUND,
        description=f"Refund of charge {charge_id}",
    )
    return f"debited {delta} for a refund", organization


def _dispute_org(obj: dict) -> Organization:
    organization, _ = _charge_org(str(obj.get("charge") or ""), obj.get("payment_intent") or "", obj)
    return organization


def _dispute_withdraw(organization: Organization, obj: dict) -> LedgerEntry:
    amount = int(obj.get("amount") or 0)
    if amount <= 0:
        raise EventRejected(f"dispute {obj.get('id')} has no amount")
    entry = wallet_debit_external(
        organization=organization,
        amount=amount,
        idempotency_key=f"stripe:dispute:{obj['id']}:withdrawn",
        kind=Kind.DISPUTE,
        description=f"Dispute {obj['id']} on charge {obj.get('charge')}",
    )
    Payment.objects.filter(stripe_charge_id=str(obj.get("charge") or "x")).update(amount_disputed=amount)
    return entry


def _dispute_reinstate(organization: Organization, obj: dict) -> None:
    # Withdraw first (a no-op when it was applied), so a "won" that arrives before "created"
    # nets to zero instead of crediting money that was never taken.
    withdrawn = _dispute_withdraw(organization, obj)
    wallet_topup(
        organization=organization,
        amount=-withdrawn.amount,
        idempotency_key=f"stripe:dispute:{obj['id']}:reinstated",
        kind=Kind.DISPUTE_WON,
        description=f"Dispute {obj['id']} won",
    )


def dispute_withdrawn(obj: dict, event: StripeEvent):
    organization = _dispute_org(obj)
    _dispute_withdraw(organization, obj)
    return "dispute debited", organization


def dispute_reinstated(obj: dict, event: StripeEvent):
    organization = _dispute_org(obj)
    _dispute_reinstate(organization, obj)
    return "dispute reinstated", organization


def dispute_closed(obj: dict, event: StripeEvent):
    organization = _dispute_org(obj)
    if obj.get("status") == "won":
        _dispute_reinstate(organization, obj)
        return "dispute won", organization
    if obj.get("status") == "lost":
        _dispute_withdraw(organization, obj)
        return "dispute lost", organization
    return f"dispute closed as {obj.get('status')}", organization


def dispute_updated(obj: dict, event: StripeEvent):
    return f"dispute {obj.get('status')}", _payment_org_or_none(obj)


def _payment_org_or_none(obj: dict) -> Organization | None:
    payment = _payment_for_charge(
        charge_id=str(obj.get("charge") or ""), payment_intent=obj.get("payment_intent") or ""
    )
    return payment.organization if payment else _metadata_org(obj)


# --- PaymentIntents (auto-recharge; saving the card of a top-up) ---------------------------------


def payment_intent_succeeded(obj: dict, event: StripeEvent):
    from billing.payments.autorecharge import auto_recharge_succeeded

    kind = (obj.get("metadata") or {}).get("kind")
    organization = _metadata_org(obj)
    if organization is None:
        return "ignored: no organization", None
    if kind == Payment.Kind.AUTO_RECHARGE:
        return auto_recharge_succeeded(organization=organization, intent=obj), organization
    if kind == Payment.Kind.TOPUP and obj.get("payment_method"):
        account = billing_account_for(organization)
        if not account.auto_recharge_payment_method:
            account.auto_recharge_payment_method = str(obj["payment_method"])
            account.save(update_fields=["auto_recharge_payment_method", "updated_at"])
        _remember_customer(organization, obj.get("customer"))
        return "card saved for auto-recharge", organization
    return "ignored", organization


def payment_intent_failed(obj: dict, event: StripeEvent):
    from billing.payments.autorecharge import auto_recharge_failed

    organization = _metadata_org(obj)
    if organization is None or (obj.get("metadata") or {}).get("kind") != Payment.Kind.AUTO_RECHARGE:
        return "ignored", organization
    error = obj.get("last_payment_error") or {}
    return auto_recharge_failed(
        organization=organization, intent_id=obj["id"], message=error.get("message") or "declined"
    ), organization


# --- Subscriptions (Stripe Billing) -----------------------------------------------------------------

ACTIVE = {"active", "trialing"}
ENDED = {"canceled", "unpaid", "incomplete_expired"}


def _subscription_price(obj: dict) -> str:
    items = ((obj.get("items") or {}).get("data")) or []
    return str(((items[0].get("price") or {}).get("id")) or "") if items else ""


def subscription_changed(obj: dict, event: StripeEvent):
    organization = _metadata_org(obj) or _customer_org(obj.get("customer"))
    if organization is None:
        raise EventNotReady(f"No organization known for subscription {obj.get('id')} yet.")
    account = billing_account_for(organization)
    account = BillingAccount.objects.select_for_update().get(id=account.id)
    if account.subscription_event_at and event.created < account.subscription_event_at:
        return "stale: a newer subscription event was applied", organization
    deleted = event.type == "customer.subscription.deleted"
    status = "canceled" if deleted else str(obj.get("status") or "")
    account.stripe_subscription_id = str(obj.get("id") or account.stripe_subscription_id)
    account.subscription_status = status
    account.subscription_event_at = event.created
    _remember_customer(organization, obj.get("customer"))
    account.save(update_fields=["stripe_subscription_id", "subscription_status", "subscription_event_at", "updated_at"])
    if status in ACTIVE:
        plan = Plan.objects.filter(stripe_price_id=_subscription_price(obj)).first()
        if plan is None:
            raise EventRejected(f"subscription {obj.get('id')} is for a price no plan has")
        if organization.plan_id != plan.id:
            plan_change(organization=organization, plan=plan, reason=f"subscription {status}")
        return f"on plan {plan.code} ({status})", organization
    if status in ENDED:
        fallback = default_plan()
        if organization.plan.is_paid:
            plan_change(organization=organization, plan=fallback, reason=f"subscription {status}")
        return f"subscription {status}: back on {organization.plan.code}", organization
    return f"subscription {status}", organization


def _invoice_subscription_metadata(obj: dict) -> dict:
    details = obj.get("subscription_details") or ((obj.get("parent") or {}).get("subscription_details")) or {}
    return details.get("metadata") or {}


def _invoice_org(obj: dict) -> Organization | None:
    return _organization(_invoice_subscription_metadata(obj).get("organization_id")) or _customer_org(
        obj.get("customer")
    )


def _invoice_plan(obj: dict, organization: Organization) -> Plan:
    for line in ((obj.get("lines") or {}).get("data")) or []:
        price = line.get("price") or {}
        price_id = price.get("id") or ((line.get("pricing") or {}).get("price_details") or {}).get("price")
        plan = Plan.objects.filter(stripe_price_id=price_id).first() if price_id else None
        if plan is not None:
            return plan
    code = _invoice_subscription_metadata(obj).get("plan")
    return Plan.objects.filter(code=code).first() or organization.plan


def invoice_paid(obj: dict, event: StripeEvent):
    organization = _invoice_org(obj)
    if organization is None:
        raise EventNotReady(f"No organization known for invoice {obj.get('id')} yet.")
    _check_currency(organization, obj.get("currency"), f"invoice {obj.get('id')}")
    plan = _invoice_plan(obj, organization)
    amount = int(obj.get("amount_paid") or 0)
    payment, _ = Payment.objects.get_or_create(
        stripe_invoice_id=obj["id"],
        defaults={
            "organization": organization,
            "kind": Payment.Kind.SUBSCRIPTION,
            "amount": amount,
            "currency": str(obj.get("currency") or "usd").upper(),
            "description": f"{plan.name} subscription",
        },
    )
    payment.receipt_url = str(obj.get("hosted_invoice_url") or payment.receipt_url)
    payment.save(update_fields=["receipt_url"])
    entry = None
    if plan.included_credit:
        entry = wallet_topup(
            organization=organization,
            amount=plan.included_credit,
            idempotency_key=f"stripe:invoice:{obj['id']}",
            kind=Kind.PLAN_CREDIT,
            description=f"{plan.name} plan credit (invoice {obj.get('number') or obj['id']})",
        )
    _payment_succeeded(payment, amount=amount, credit=plan.included_credit, entry=entry)
    return f"invoice paid, credit {plan.included_credit}", organization


def invoice_failed(obj: dict, event: StripeEvent):
    organization = _invoice_org(obj)
    if organization is None:
        raise EventNotReady(f"No organization known for invoice {obj.get('id')} yet.")
    payment, _ = Payment.objects.get_or_create(
        stripe_invoice_id=obj["id"],
        defaults={
            "organization": organization,
            "kind": Payment.Kind.SUBSCRIPTION,
            "amount": int(obj.get("amount_due") or 0),
            "currency": str(obj.get("currency") or "usd").upper(),
            "description": "Subscription",
        },
    )
    if payment.status == Payment.Status.SUCCEEDED:
        return "invoice already paid", organization  # a late failure of an invoice retried successfully
    payment.status = Payment.Status.FAILED
    payment.failure_message = "The subscription payment failed; Stripe retries it."
    payment.receipt_url = str(obj.get("hosted_invoice_url") or payment.receipt_url)
    payment.save(update_fields=["status", "failure_message", "receipt_url"])
    _payment_failed_notice(payment)
    return "invoice payment failed", organization


HANDLERS = {
    "checkout.session.completed": checkout_completed,
    "checkout.session.async_payment_succeeded": checkout_async_succeeded,
    "checkout.session.async_payment_failed": checkout_async_failed,
    "checkout.session.expired": checkout_expired,
    "charge.succeeded": charge_succeeded,
    "charge.refunded": charge_refunded,
    "charge.dispute.created": dispute_withdrawn,
    "charge.dispute.funds_withdrawn": dispute_withdrawn,
    "charge.dispute.funds_reinstated": dispute_reinstated,
    "charge.dispute.closed": dispute_closed,
    "charge.dispute.updated": dispute_updated,
    "payment_intent.succeeded": payment_intent_succeeded,
    "payment_intent.payment_failed": payment_intent_failed,
    "customer.subscription.created": subscription_changed,
    "customer.subscription.updated": subscription_changed,
    "customer.subscription.deleted": subscription_changed,
    "invoice.paid": invoice_paid,
    "invoice.payment_failed": invoice_failed,
}
