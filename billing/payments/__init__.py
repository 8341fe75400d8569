"""Stripe: Checkout top-ups, auto-recharge, Billing subscriptions and the signed webhook.

Switched on only when ``STRIPE_SECRET_KEY`` is set; without it the product runs on staff credit
and operator commands. Money reaches a wallet only from Stripe's signed events (or, for an
off-session auto-recharge, from the PaymentIntent Stripe confirmed), each keyed so it is
credited once.
"""
