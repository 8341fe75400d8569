"""Moving an organization between plans: by staff (any plan), by the customer (free public
plans directly; paid plans through a Stripe Billing subscription, see billing.stripe_billing)."""

from __future__ import annotations

import logging

from django.db import transaction

from accounts.models import Organization
from billing.models import BillingAccount, Plan
from config.errors import BadRequest, NotFound
from lib.audit import audit_update

logger = logging.getLogger(__name__)


@transaction.atomic
def plan_change(*, organization: Organization, plan: Plan, changed_by=None, reason: str = "") -> Organization:
    """Put the organization on ``plan``. Limits, quota, prices and retention follow at once."""
    before = Organization.objects.filter(pk=organization.pk).values_list("plan__code", flat=True).first()
    Organization.objects.filter(pk=organization.pk).update(plan=plan)
    organization.plan = plan
    audit_update(organization, {"plan": (before, plan.code)}, actor=changed_by, reason=reason or "")
    who = changed_by.get_username() if changed_by is not None else "system"
    logger.info("organization %s moved to plan %s by %s (%s)", organization.slug, plan.code, who, reason or "-")
    return organization


def plan_choose(*, organization: Organization, plan_code: str, user) -> Organization:
    """The customer's own switch to a free public plan. Paid plans are bought by subscribing."""
    plan = Plan.objects.filter(code=plan_code, is_public=True).first()
    if plan is None:
        raise NotFound("No such plan.")
    if plan.is_paid:
        raise BadRequest(f"The {plan.name} plan is a subscription: subscribe to it with a card.")
    active = BillingAccount.objects.filter(
        organization=organization, subscription_status__in=["active", "trialing", "past_due"]
    ).exists()
    if active:
        raise BadRequest("Cancel the current subscription in the billing portal first; the plan changes when it ends.")
    return plan_change(organization=organization, plan=plan, changed_by=user, reason="chosen by the customer")
