"""Writes of an organization's billing account: details printed on receipts, spend controls,
alert thresholds and auto-recharge settings. Owners and admins call these from the wallet page."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction

from billing.models import BillingAccount, KeySpendLimit
from billing.selectors import billing_account_for
from config.errors import BadRequest, NotFound

DETAIL_FIELDS = (
    "billing_name",
    "billing_email",
    "address_line1",
    "address_line2",
    "postal_code",
    "city",
    "country",
    "tax_id",
)
CONTROL_FIELDS = ("monthly_spend_limit", "spend_alert_percents", "low_balance_threshold", "webhook_url")
RECHARGE_FIELDS = (
    "auto_recharge_enabled",
    "auto_recharge_threshold",
    "auto_recharge_amount",
    "auto_recharge_monthly_cap",
)


def _save(account: BillingAccount, fields: tuple[str, ...]) -> BillingAccount:
    try:
        account.full_clean(exclude=["organization"], validate_unique=False)
    except ValidationError as exc:
        raise BadRequest("; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())) from exc
    account.save(update_fields=[*fields, "updated_at"])
    return account


@transaction.atomic
def billing_details_update(*, organization, **values) -> BillingAccount:
    account = BillingAccount.objects.select_for_update().get(pk=billing_account_for(organization).pk)
    for field in DETAIL_FIELDS:
        if field in values:
            value = (values[field] or "").strip()
            setattr(account, field, value.upper() if field == "country" else value)
    return _save(account, DETAIL_FIELDS)


@transaction.atomic
def spend_controls_update(*, organization, **values) -> BillingAccount:
    """Spend limit (None = none), alert percentages, low-balance threshold, billing webhook URL."""
    account = BillingAccount.objects.select_for_update().get(pk=billing_account_for(organization).pk)
    for field in CONTROL_FIELDS:
        if field in values:
            setattr(account, field, values[field])
    account.spend_alert_percents = ",".join(str(p) for p in account.alert_percents())
    account.webhook_url = (account.webhook_url or "").strip()
    if account.webhook_url:
        from lib.netfetch import check_public_url

        check_public_url(account.webhook_url)
    if account.low_balance_threshold is None:
        account.low_balance_alerted = False
    return _save(account, (*CONTROL_FIELDS, "low_balance_alerted"))


@transaction.atomic
def auto_recharge_update(
    *, organization, enabled: bool, threshold: int, amount: int, monthly_cap: int
) -> BillingAccount:
    """Switch auto-recharge on (needs a card saved by an earlier top-up) or off. Switching it
    on again starts the failure count afresh."""
    account = BillingAccount.objects.select_for_update().get(pk=billing_account_for(organization).pk)
    if enabled:
        if not (account.stripe_customer_id and account.auto_recharge_payment_method):
            raise BadRequest("Top up once by card first: auto-recharge charges the card saved then.")
        if amount <= 0 or monthly_cap < amount:
            raise BadRequest("The recharge amount must be positive and the monthly cap at least one recharge.")
        if not account.auto_recharge_enabled:
            account.auto_recharge_failures = 0
    account.auto_recharge_enabled = enabled
    account.auto_recharge_threshold = threshold
    account.auto_recharge_amount = amount
    account.auto_recharge_monthly_cap = monthly_cap
    return _save(account, (*RECHARGE_FIELDS, "auto_recharge_failures"))


@transaction.atomic
def key_spend_limit_set(*, organization, subscription_id, monthly_limit: int | None) -> KeySpendLimit | None:
    """A key set's own monthly limit (None removes it). Another tenant's key set is a 404."""
    from accounts.models import Subscription

    subscription = Subscription.objects.filter(organization=organization, id=subscription_id).first()
    if subscription is None:
        raise NotFound("No such key set.")
    if monthly_limit is None:
        KeySpendLimit.objects.filter(subscription=subscription).delete()
        return None
    if monthly_limit < 0:
        raise BadRequest("A spend limit cannot be negative.")
    limit, _ = KeySpendLimit.objects.update_or_create(
        subscription=subscription, defaults={"monthly_limit": monthly_limit}
    )
    return limit
