"""What other apps call when money moved, outside their transactions."""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)


def after_spend(*, organization) -> None:
    """Run after a submission's holds committed: when the organization has alerts or
    auto-recharge set up, hand the look at its wallet to the billing actor (never in the
    request, never under the wallet lock)."""
    from billing.actors import billing_after_spend
    from billing.alerts import watched

    try:
        if watched(organization):
            billing_after_spend.send(str(organization.id))
    except Exception:
        # Alerts and recharges are conveniences; a broker hiccup must not fail a committed request.
        logger.exception("could not enqueue the billing check of organization %s", organization.id)
