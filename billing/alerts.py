"""Low-balance and spend-limit alerts, each sent once per crossing.

Low balance: when the available balance drops under the owner's threshold, a conditional UPDATE
of ``low_balance_alerted`` from false to true lets exactly one worker send; a credit that brings
the balance back over the threshold re-arms it. Spend limit: one alert per configured
percentage per calendar month (and per limit value, so raising the limit re-arms it), made
unique by the BillingAlert key.
"""

from __future__ import annotations

import logging

from django.utils import timezone

from billing.controls import month_start, spend_this_month
from billing.models import BillingAccount, BillingAlert, Wallet
from billing.money import format_money
from billing.notify import notice_send
from billing.selectors import wallet_currency

logger = logging.getLogger(__name__)


def _available(organization_id) -> int | None:
    row = Wallet.objects.filter(organization_id=organization_id).values_list("balance", "held").first()
    return None if row is None else row[0] - row[1]


def alerts_check(*, organization_id) -> list[BillingAlert]:
    account = BillingAccount.objects.select_related("organization").filter(organization_id=organization_id).first()
    if account is None:
        return []
    sent = []
    threshold = account.low_balance_threshold
    available = _available(organization_id)
    if threshold is not None and available is not None:
        if available < threshold:
            claimed = BillingAccount.objects.filter(id=account.id, low_balance_alerted=False).update(
                low_balance_alerted=True
            )
            if claimed:
                alert = notice_send(
                    organization=account.organization,
                    kind=BillingAlert.Kind.LOW_BALANCE,
                    key=f"crossing:{timezone.now().isoformat()}",
                    subject="Low balance",
                    message=f"Your available balance is {_money(account, available)}, under your alert "
                    f"threshold of {_money(account, threshold)}. Top up to keep requests running.",
                    data={"available": available, "threshold": threshold},
                )
                sent.append(alert)
        else:
            low_balance_rearm(organization=account.organization)
    limit = account.monthly_spend_limit
    if limit:
        spent = spend_this_month(account.organization)
        month = month_start()
        for percent in account.alert_percents():
            if spent * 100 >= limit * percent:
                alert = notice_send(
                    organization=account.organization,
                    kind=BillingAlert.Kind.SPEND_LIMIT,
                    key=f"{month:%Y-%m}:{percent}:{limit}",
                    subject=f"{percent}% of your monthly spend limit",
                    message=f"This month's spend is {_money(account, spent)}, {percent}% or more of your monthly "
                    f"spend limit of {_money(account, limit)}."
                    + (" New requests are refused until next month." if percent >= 100 else ""),
                    data={"spent": spent, "limit": limit, "percent": percent},
                )
                if alert is not None:
                    sent.append(alert)
    return [alert for alert in sent if alert is not None]


def _money(account, minor_units: int) -> str:
    return format_money(minor_units, wallet_currency(account.organization))


def low_balance_rearm(*, organization) -> bool:
    """Re-arm the low-balance alert when the balance is back at or over the threshold."""
    account = BillingAccount.objects.filter(organization=organization, low_balance_alerted=True).first()
    if account is None or account.low_balance_threshold is None:
        return False
    available = _available(organization.id)
    if available is None or available < account.low_balance_threshold:
        return False
    return bool(
        BillingAccount.objects.filter(id=account.id, low_balance_alerted=True).update(low_balance_alerted=False)
    )


def watched(organization) -> bool:
    """Whether anything needs to look at the wallet after a submission.

    Decided from the billing account loaded with the organization when there is one (key
    authentication loads it with the key, so an API submission pays no query here); otherwise
    it is read. A setting changed in the few milliseconds since it was loaded is seen by the
    next submission; the actor itself reads everything afresh.
    """
    field = organization._meta.get_field("billing_account")
    if field.is_cached(organization):
        account = field.get_cached_value(organization)
    else:
        account = BillingAccount.objects.filter(organization_id=organization.id).first()
    return account is not None and (
        account.auto_recharge_enabled
        or account.low_balance_threshold is not None
        or account.monthly_spend_limit is not None
    )
