"""What a submission must pass before any money is held: the plan's monthly image quota and the
monthly spend limits (organization, key set). A wallet in debt is refused by the hold itself.

These run before the wallet lock, as plain reads: two submissions racing at the very edge of a
quota or limit may both pass (overshooting by at most one request each), which is the price of
keeping the locked part of a submission short. The hold itself still never overdraws.
"""

from __future__ import annotations

from datetime import UTC, datetime

from django.db.models import Sum
from django.utils import timezone

from accounts.models import ApiKey
from billing.errors import QuotaExceeded, SpendLimitReached
from billing.models import BillingAccount, KeySpendLimit
from billing.money import format_money
from billing.selectors import wallet_currency
from jobs.models import Job

# Jobs whose price is spent or reserved: what counts against a quota or a spend limit.
SPENDING = (Job.Status.QUEUED, Job.Status.PROCESSING, Job.Status.COMPLETED)


def month_start(now: datetime | None = None) -> datetime:
    now = (now or timezone.now()).astimezone(UTC)
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def next_month_start(now: datetime | None = None) -> datetime:
    start = month_start(now)
    return start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)


def _month_jobs(organization, now):
    return Job.objects.filter(organization=organization, created_at__gte=month_start(now), status__in=SPENDING)


def images_this_month(organization, *, now: datetime | None = None) -> int:
    return _month_jobs(organization, now).count()


def spend_this_month(organization, *, subscription_id=None, now: datetime | None = None) -> int:
    """Captured plus held this calendar month (UTC), minor units."""
    jobs = _month_jobs(organization, now)
    if subscription_id is not None:
        jobs = jobs.filter(api_key__subscription_id=subscription_id)
    return jobs.aggregate(total=Sum("price"))["total"] or 0


def admission_check(*, organization, api_key=None, count: int, total_price: int, now=None) -> None:
    """Raise 402 (debt, spend limit) or 429 (quota) for a submission of ``count`` images costing
    ``total_price``; return quietly when it may go on to the hold."""
    now = now or timezone.now()
    # A wallet in debt is refused by the hold itself (its conditional UPDATE never matches one),
    # with the same 402: no read of the wallet here.
    _check_quota(organization, count=count, now=now)
    account = _loaded_or(
        organization, "billing_account", lambda: BillingAccount.objects.filter(organization=organization).first()
    )
    limit = account.monthly_spend_limit if account is not None else None
    if limit is not None:
        spent = spend_this_month(organization, now=now)
        if spent + total_price > limit:
            money = _money_for(organization)
            raise SpendLimitReached(
                f"This request ({money(total_price)}) would take this month's spend ({money(spent)}) over the "
                f"organization's monthly spend limit of {money(limit)}; raise the limit on the wallet page."
            )
    if api_key is not None:

        def key_limit_query():
            return KeySpendLimit.objects.filter(subscription_id=api_key.subscription_id).first()

        if ApiKey.subscription.is_cached(api_key):
            key_limit = _loaded_or(api_key.subscription, "spend_limit", key_limit_query)
        else:
            key_limit = key_limit_query()
        if key_limit is not None:
            spent = spend_this_month(organization, subscription_id=api_key.subscription_id, now=now)
            if spent + total_price > key_limit.monthly_limit:
                money = _money_for(organization)
                raise SpendLimitReached(
                    f"This request ({money(total_price)}) would take this month's spend of this key "
                    f"({money(spent)}) over its monthly spend limit of {money(key_limit.monthly_limit)}."
                )


def _money_for(organization):
    """Minor units as the wallet's money, for refusal messages (read only when refusing)."""
    currency = wallet_currency(organization)
    return lambda minor_units: format_money(minor_units, currency)


def _loaded_or(instance, relation: str, load):
    """A reverse one-to-one of ``instance`` as ``select_related`` loaded it (None: no row), or
    ``load()`` when it was not loaded. Key authentication loads both spend limits with the key,
    so the admission checks of an API submission cost no query unless a limit is set."""
    field = instance._meta.get_field(relation)
    if field.is_cached(instance):
        return field.get_cached_value(instance)
    return load()


def _check_quota(organization, *, count: int, now) -> None:
    plan = organization.plan
    quota = plan.monthly_image_quota
    if not quota:
        return
    used = images_this_month(organization, now=now)
    if used + count > quota:
        renews_at = next_month_start(now)
        raise QuotaExceeded(
            f"The {plan.name} plan includes {quota} images a month and {used} are used; the quota renews at "
            f"{renews_at:%Y-%m-%d %H:%M} UTC. Upgrade the plan for more.",
            renews_at=renews_at,
            retry_after_s=max(1, int((renews_at - now).total_seconds())),
            limit=quota,
            used=used,
        )
