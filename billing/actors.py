"""Billing actors: ids in, one service call. Delivery is at-least-once; every service is
idempotent (a claimed flag, a unique key, a conditional update)."""

from __future__ import annotations

import dramatiq


@dramatiq.actor(queue_name="billing", time_limit=120_000, max_retries=0)
def billing_after_spend(organization_id: str) -> None:
    """After a submission committed: alerts at their thresholds, then auto-recharge if due."""
    from billing.alerts import alerts_check
    from billing.payments.autorecharge import auto_recharge_run

    alerts_check(organization_id=organization_id)
    auto_recharge_run(organization_id=organization_id)


@dramatiq.actor(queue_name="billing", time_limit=60_000, max_retries=5, min_backoff=30_000, max_backoff=3_600_000)
def deliver_billing_event(organization_id: str, url: str, body: str) -> None:
    from billing.notify import billing_event_deliver

    billing_event_deliver(organization_id=organization_id, url=url, body=body)
