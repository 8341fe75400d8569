"""Auto-recharge: when a hold takes the available balance under the owner's threshold, charge
the saved card off-session for the chosen amount, within a monthly cap, one charge at a time.

``auto_recharge_run`` runs in the billing actor after a submission commits. It claims the
account with a conditional UPDATE on ``auto_recharge_pending_since`` (so two workers never both
charge), creates a Payment, and asks Stripe for a confirmed off-session PaymentIntent whose
idempotency key is the payment's id. A succeeded intent is credited at once (keyed by the
intent, so the ``payment_intent.succeeded`` webhook that follows credits nothing more); one
that needs the customer or fails counts as a failure; after ``AUTO_RECHARGE_MAX_FAILURES`` in a
row auto-recharge switches off and the owners are told.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import stripe
from django.conf import settings
from django.db import transaction
from django.db.models import Q, Sum
from django.utils import timezone

from billing.controls import month_start
from billing.models import BillingAccount, BillingAlert, Payment, Wallet
from billing.money import format_money
from billing.notify import notice_send
from billing.payments.client import PaymentProviderError, is_enabled, stripe_call
from billing.selectors import wallet_currency
from billing.services import wallet_topup

logger = logging.getLogger(__name__)

# A claim older than this belongs to a worker that died mid-charge.
STALE_CLAIM = timedelta(minutes=15)


def recharged_this_month(organization_id, *, now=None) -> int:
    """Auto-recharge money asked for this month (paid or still under way): what the cap limits."""
    return (
        Payment.objects.filter(
            organization_id=organization_id,
            kind=Payment.Kind.AUTO_RECHARGE,
            status__in=[Payment.Status.PENDING, Payment.Status.SUCCEEDED],
            created_at__gte=month_start(now),
        ).aggregate(s=Sum("amount"))["s"]
        or 0
    )


def _due(account: BillingAccount) -> bool:
    if not (account.auto_recharge_enabled and account.auto_recharge_amount > 0):
        return False
    if not (account.stripe_customer_id and account.auto_recharge_payment_method):
        return False
    wallet = Wallet.objects.filter(organization_id=account.organization_id).values_list("balance", "held").first()
    return wallet is not None and wallet[0] - wallet[1] < account.auto_recharge_threshold


def _unsettled_charge(organization_id) -> bool:
    """A charge Stripe accepted but has not settled (``processing``): the claim may have gone
    stale meanwhile, but a second charge must still wait for it."""
    return Payment.objects.filter(
        organization_id=organization_id,
        kind=Payment.Kind.AUTO_RECHARGE,
        status=Payment.Status.PENDING,
        stripe_payment_intent_id__isnull=False,
        created_at__gte=timezone.now() - timedelta(days=7),
    ).exists()


def _claim(account: BillingAccount) -> bool:
    now = timezone.now()
    return bool(
        BillingAccount.objects.filter(id=account.id, auto_recharge_enabled=True)
        .filter(Q(auto_recharge_pending_since__isnull=True) | Q(auto_recharge_pending_since__lt=now - STALE_CLAIM))
        .update(auto_recharge_pending_since=now)
    )


def _unclaim(account_id) -> None:
    BillingAccount.objects.filter(id=account_id).update(auto_recharge_pending_since=None)


def auto_recharge_run(*, organization_id) -> Payment | None:
    """Charge once if due. Returns the payment made (or None when nothing was due)."""
    if not is_enabled():
        return None
    account = BillingAccount.objects.select_related("organization").filter(organization_id=organization_id).first()
    if account is None or not _due(account):
        return None
    if _unsettled_charge(organization_id):
        return None  # an earlier charge is still processing at Stripe (its webhook settles it)
    if not _claim(account):
        return None  # another charge is under way
    try:
        if recharged_this_month(organization_id) + account.auto_recharge_amount > account.auto_recharge_monthly_cap:
            notice_send(
                organization=account.organization,
                kind=BillingAlert.Kind.PAYMENT_FAILED,
                key=f"auto-recharge-cap:{month_start():%Y-%m}",
                subject="Auto-recharge cap reached",
                message="Auto-recharge did not charge: this month's cap of "
                f"{format_money(account.auto_recharge_monthly_cap, wallet_currency(account.organization))} "
                "is reached. Top up by hand or raise the cap.",
            )
            _unclaim(account.id)
            return None
        return _charge(account)
    except BaseException:
        _unclaim(account.id)
        raise


def _charge(account: BillingAccount) -> Payment:
    organization = account.organization
    currency = Wallet.objects.get(organization=organization).currency
    payment = Payment.objects.create(
        organization=organization,
        kind=Payment.Kind.AUTO_RECHARGE,
        amount=account.auto_recharge_amount,
        currency=currency,
        description="Auto-recharge",
    )
    try:
        intent = stripe_call(
            stripe.PaymentIntent,
            "create",
            amount=account.auto_recharge_amount,
            currency=currency.lower(),
            customer=account.stripe_customer_id,
            payment_method=account.auto_recharge_payment_method,
            off_session=True,
            confirm=True,
            description=f"Auto-recharge for {organization.name}",
            metadata={
                "organization_id": str(organization.id),
                "kind": Payment.Kind.AUTO_RECHARGE,
                "payment_id": str(payment.id),
            },
            idempotency_key=f"auto-recharge:{payment.id}",
        )
    except stripe.CardError as exc:
        intent_id = ((exc.json_body or {}).get("error") or {}).get("payment_intent", {}).get("id", "")
        if intent_id:
            Payment.objects.filter(id=payment.id).update(stripe_payment_intent_id=intent_id)
        _failed(payment_id=payment.id, message=exc.user_message or str(exc))
        return Payment.objects.get(id=payment.id)
    except PaymentProviderError:
        # Stripe unreachable: nothing was charged; the next hold under the threshold tries again.
        Payment.objects.filter(id=payment.id).update(
            status=Payment.Status.FAILED, failure_message="provider unreachable"
        )
        _unclaim(account.id)
        raise
    Payment.objects.filter(id=payment.id).update(stripe_payment_intent_id=intent.id)
    if intent.status == "succeeded":
        auto_recharge_succeeded(organization=organization, intent=intent.to_dict())
    elif intent.status in {"requires_action", "requires_payment_method", "canceled"}:
        _failed(payment_id=payment.id, message="The card needs the customer to confirm the payment.")
    # "processing": the payment_intent.* webhook finishes it; the claim stays until then.
    return Payment.objects.get(id=payment.id)


def _payment_of(intent: dict) -> Payment | None:
    payment_id = (intent.get("metadata") or {}).get("payment_id")
    payment = Payment.objects.filter(stripe_payment_intent_id=intent.get("id")).first()
    if payment is None and payment_id:
        payment = Payment.objects.filter(id=payment_id, kind=Payment.Kind.AUTO_RECHARGE).first()
    return payment


@transaction.atomic
def auto_recharge_succeeded(*, organization, intent: dict) -> str:
    """Credit a succeeded auto-recharge intent (once, keyed by the intent id)."""
    from billing.payments.events import _payment_succeeded, _receipt_apply

    amount = int(intent.get("amount_received") or intent.get("amount") or 0)
    entry = wallet_topup(
        organization=organization,
        amount=amount,
        idempotency_key=f"stripe:pi:{intent['id']}",
        description=f"Auto-recharge ({intent['id']})",
    )
    payment = _payment_of(intent)
    if payment is None:
        payment = Payment.objects.create(
            organization=organization,
            kind=Payment.Kind.AUTO_RECHARGE,
            amount=amount,
            currency=str(intent.get("currency") or "usd").upper(),
            stripe_payment_intent_id=intent["id"],
            description="Auto-recharge",
        )
    if not payment.stripe_payment_intent_id:
        payment.stripe_payment_intent_id = intent["id"]
        payment.save(update_fields=["stripe_payment_intent_id"])
    _payment_succeeded(payment, amount=amount, credit=amount, entry=entry)
    charge = intent.get("latest_charge")
    if isinstance(charge, dict):
        _receipt_apply(payment, charge)
    BillingAccount.objects.filter(organization=organization).update(
        auto_recharge_failures=0, auto_recharge_pending_since=None
    )
    return f"auto-recharge credited {amount}"


def auto_recharge_failed(*, organization, intent_id: str, message: str) -> str:
    payment = Payment.objects.filter(stripe_payment_intent_id=intent_id).first()
    if payment is None:
        return "no such auto-recharge"
    return _failed(payment_id=payment.id, message=message)


@transaction.atomic
def _failed(*, payment_id, message: str) -> str:
    """Count one failure per payment (the conditional update makes the webhook that follows a
    declined charge count nothing more)."""
    changed = Payment.objects.filter(id=payment_id, status=Payment.Status.PENDING).update(
        status=Payment.Status.FAILED, failure_message=message[:300]
    )
    payment = Payment.objects.select_related("organization").get(id=payment_id)
    account = BillingAccount.objects.select_for_update().get(organization=payment.organization)
    account.auto_recharge_pending_since = None
    if not changed:
        account.save(update_fields=["auto_recharge_pending_since", "updated_at"])
        return "failure already counted"
    account.auto_recharge_failures += 1
    disabled = account.auto_recharge_failures >= settings.AUTO_RECHARGE_MAX_FAILURES
    if disabled:
        account.auto_recharge_enabled = False
    account.save(
        update_fields=["auto_recharge_pending_since", "auto_recharge_failures", "auto_recharge_enabled", "updated_at"]
    )
    from billing.payments.events import _payment_failed_notice

    _payment_failed_notice(payment)
    if disabled:
        notice_send(
            organization=payment.organization,
            kind=BillingAlert.Kind.AUTO_RECHARGE_DISABLED,
            key=f"payment:{payment.id}",
            subject="Auto-recharge switched off",
            message=f"Auto-recharge failed {account.auto_recharge_failures} times in a row and is now off. "
            "Update the card and switch it on again on the wallet page.",
        )
    return f"auto-recharge failed ({account.auto_recharge_failures} in a row)"
