"""A per-process circuit breaker: after one failed call to a dependency, skip it for a while.

Used where a dependency is optional for the request (Redis for rate-limit counters and for job
messages): a Redis that hangs costs one request one socket timeout, then every request of this
process goes on without Redis for ``open_for_s`` seconds, after which the next call tries again.

Hand-written rather than pybreaker: pybreaker holds its lock for the whole guarded call, so every
thread of a process would queue behind one slow Redis call, which is what this is here to avoid.
"""

from __future__ import annotations

import threading
import time
import weakref


class CircuitBreaker:
    def __init__(self, name: str, *, open_for_s: float, clock=time.monotonic):
        self.name = name
        self.open_for_s = open_for_s
        self._clock = clock
        self._lock = threading.Lock()
        self._open_until = 0.0

    def allows(self) -> bool:
        """Whether a call should be tried now (closed, or the open period is over)."""
        return self._clock() >= self._open_until

    def record_failure(self) -> bool:
        """Open for ``open_for_s``; True if this call opened it (it was closed before)."""
        with self._lock:
            was_closed = self.allows()
            self._open_until = self._clock() + self.open_for_s
            return was_closed

    def record_success(self) -> None:
        with self._lock:
            self._open_until = 0.0

    def reset(self) -> None:
        self.record_success()


_breakers: weakref.WeakKeyDictionary[object, CircuitBreaker] = weakref.WeakKeyDictionary()
_registry_lock = threading.Lock()


def breaker_of(client: object, *, open_for_s: float) -> CircuitBreaker:
    """The breaker that guards ``client`` (a rate limiter, a broker) in this process, made on
    first use; it goes away with the client. ``open_for_s`` follows the caller's setting."""
    with _registry_lock:
        breaker = _breakers.get(client)
        if breaker is None:
            breaker = _breakers[client] = CircuitBreaker(type(client).__name__, open_for_s=open_for_s)
        breaker.open_for_s = open_for_s
        return breaker


def reset_all() -> None:
    """Close every breaker (tests, and a process that knows its dependencies are back)."""
    with _registry_lock:
        for breaker in list(_breakers.values()):
            breaker.reset()
