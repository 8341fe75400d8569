"""Requests per minute per organization, counted in shared storage.

Counters live in ``settings.RATE_LIMIT_STORAGE_URI`` (Redis in production and tests, ``memory://``
in the embedded single-process mode) through the ``limits`` library's storage. The window is a
fixed one aligned to the clock minute: one counter per organization and minute, moved by the
storage's ``incr`` (one atomic INCR+EXPIRE Lua script on Redis), whose answer is the count, so the
remaining budget and the reset time come with it: one Redis round trip per request, where the
moving window took two (hit, then window stats) and kept an entry per request. Many web
processes share one budget without a race. A fixed window lets a client spend up to twice the
budget across a minute boundary; the wallet and the in-flight cap bound what that can cost. The budget
belongs to the organization, shared by all its key sets (subscriptions) and both keys of each:
creating key sets does not multiply it, rotating a key does not reset it. The number comes from
the organization's plan; a plan with 0 requests per minute is unlimited.

When the counter store fails (refused, or hung past ``REDIS_SOCKET_TIMEOUT_S``) the request is
let through and the process stops asking it for ``REDIS_FAIL_OPEN_S`` seconds (a circuit
breaker), so a Redis outage costs one request one timeout, not every request. Counting is
protection, not billing: the wallet holds guard the money whatever the counters say.
"""

from __future__ import annotations

import functools
import logging
import math
import time
from dataclasses import dataclass

from django.conf import settings
from limits import RateLimitItemPerMinute
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter, RateLimiter

from accounts.errors import RateLimited
from accounts.models import ApiKey
from lib.breaker import CircuitBreaker, breaker_of

logger = logging.getLogger(__name__)

NAMESPACE = "codeformer-rpm"
WINDOW_S = 60


@dataclass(frozen=True)
class RateLimitState:
    limit: int
    remaining: int
    reset_after_s: int


def build_limiter(storage_uri: str) -> RateLimiter:
    """A limiter on its own storage connection (what each web process builds once), with the
    Redis socket timeouts of ``REDIS_CONNECTION_OPTIONS``."""
    options = settings.REDIS_CONNECTION_OPTIONS if storage_uri.startswith(("redis", "rediss")) else {}
    return FixedWindowRateLimiter(storage_from_string(storage_uri, **options))


def storage_breaker(limiter: RateLimiter) -> CircuitBreaker:
    """The process's breaker for one limiter's counter store."""
    return breaker_of(limiter, open_for_s=settings.REDIS_FAIL_OPEN_S)


@functools.cache
def _process_limiter(storage_uri: str) -> RateLimiter:
    return build_limiter(storage_uri)


def get_limiter() -> RateLimiter:
    return _process_limiter(settings.RATE_LIMIT_STORAGE_URI)


def ratelimit_headers(state: RateLimitState) -> dict[str, str]:
    """The RateLimit-* headers (IETF draft, delta-seconds reset) for any response."""
    if state.limit <= 0:
        return {}
    return {
        "RateLimit-Limit": str(state.limit),
        "RateLimit-Remaining": str(max(0, state.remaining)),
        "RateLimit-Reset": str(max(0, state.reset_after_s)),
        "RateLimit-Policy": f"{state.limit};w=60",
    }


def enforce_request_rate(api_key: ApiKey, *, limiter: RateLimiter | None = None) -> RateLimitState:
    """Count one request against the key's organization; raise RateLimited (429, with
    Retry-After and RateLimit-* headers) when the minute's budget is spent."""
    per_minute = api_key.organization.plan.requests_per_minute
    if per_minute <= 0:
        return RateLimitState(limit=0, remaining=0, reset_after_s=0)
    limiter = limiter or get_limiter()
    breaker = storage_breaker(limiter)
    unlimited = RateLimitState(limit=per_minute, remaining=per_minute, reset_after_s=60)
    if not breaker.allows():
        return unlimited
    item = RateLimitItemPerMinute(per_minute, namespace=NAMESPACE)
    now = time.time()
    minute = int(now // WINDOW_S)
    key = item.key_for(f"organization:{api_key.organization_id}", str(minute))
    try:
        count = limiter.storage.incr(key, WINDOW_S + 1)
    except Exception:
        # Counting is protection, not billing (holds guard the money): an unreachable or hung
        # counter store must not take the API down with it, nor make every request wait for it.
        if breaker.record_failure():
            logger.exception(
                "rate-limit storage unavailable; letting requests through for %s s", settings.REDIS_FAIL_OPEN_S
            )
        return unlimited
    breaker.record_success()
    reset_after_s = max(1, math.ceil((minute + 1) * WINDOW_S - now))
    state = RateLimitState(limit=per_minute, remaining=max(0, per_minute - count), reset_after_s=reset_after_s)
    if count > per_minute:
        headers = {"Retry-After": str(reset_after_s), **ratelimit_headers(state)}
        raise RateLimited(f"Rate limit is exceeded. Try again in {reset_after_s} seconds.", headers=headers)
    return state
