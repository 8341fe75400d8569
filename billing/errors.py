"""Domain errors of wallets, holds and prices."""

from __future__ import annotations

from rest_framework import status

from accounts.errors import RateLimited
from billing.money import format_money
from config.errors import ApplicationError, BadRequest, Conflict, ServiceUnavailable

__all__ = [
    "IdempotencyKeyReused",
    "InsufficientBalance",
    "InvalidAmount",
    "PriceTableIncomplete",
    "QuotaExceeded",
    "RateLimited",
    "SpendLimitReached",
    "TooManyJobsInFlight",
]


class InsufficientBalance(ApplicationError):
    """402, worded as the gateway document shows it."""

    status_code = status.HTTP_402_PAYMENT_REQUIRED
    title = "Insufficient Balance"
    default_message = "Your wallet does not have enough balance."


def in_debt_error(balance: int, currency: str = "USD") -> InsufficientBalance:
    """The 402 of a wallet a refund or dispute left in debt, the balance shown as money."""
    return InsufficientBalance(
        f"Your balance is {format_money(balance, currency)} after a refund or dispute; "
        "top up to settle it before submitting again."
    )


class TooManyJobsInFlight(ApplicationError):
    """429: the organization already has ``plan.max_jobs_in_flight`` jobs queued or processing."""

    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    title = "Too Many Requests"
    default_message = "Too many jobs in flight for this organization; wait for some to finish."
    # Nobody knows when a job will finish; a short Retry-After keeps well-behaved clients polite.
    retry_after_s = 10

    def __init__(self, message: str | None = None, *, limit: int | None = None, in_flight: int | None = None, **kwargs):
        # The RateLimit-* headers stay those of the request rate (the view adds them): this cap is
        # another limit, told by the message and Retry-After.
        headers = {"Retry-After": str(self.retry_after_s), **(kwargs.pop("headers", None) or {})}
        super().__init__(message, headers=headers, **kwargs)
        self.limit = limit
        self.in_flight = in_flight


class InvalidAmount(BadRequest):
    default_message = "The amount is not valid."


class IdempotencyKeyReused(Conflict):
    default_message = "This idempotency key was already used for another wallet."


class PriceTableIncomplete(ServiceUnavailable):
    default_message = "Pricing is not configured; try again later."


class SpendLimitReached(ApplicationError):
    """402: the organization's (or the key's) monthly spend limit would be exceeded."""

    status_code = status.HTTP_402_PAYMENT_REQUIRED
    title = "Spend Limit Reached"
    default_message = "The monthly spend limit is reached."


class QuotaExceeded(ApplicationError):
    """429: the plan's monthly image quota is used up; says when it renews (and Retry-After)."""

    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    title = "Too Many Requests"
    default_message = "The monthly image quota is used up."

    def __init__(self, message: str, *, renews_at, retry_after_s: int, limit: int, used: int):
        super().__init__(
            message,
            headers={"Retry-After": str(retry_after_s)},
            extra={"renews_at": renews_at.isoformat().replace("+00:00", "Z"), "quota": limit, "used": used},
        )


class NothingToRefund(BadRequest):
    default_message = "This job was never charged, so there is nothing to refund."
