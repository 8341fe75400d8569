"""Stopping a running restoration from outside: a cancellation token the pipeline checks.

The caller (``jobs/`` for a worker) builds a ``CancelToken`` and passes it to
``RestorationPipeline.restore(..., cancel=token)``. The pipeline calls ``token.check()`` between
stages, between faces, between background tiles and between the model calls of a stage, so a
canceled job stops after at most one model call (one Real-ESRGAN tile, one face forward), not
at the end of the job. ``check()`` raises ``Cancelled`` once the token is canceled.

A token is canceled either directly (``cancel()``, thread-safe, e.g. from a shutdown handler)
or by its ``poll`` callable returning a reason: the worker's poll reads the job's row, so
``poll`` runs at most once per ``min_interval_s`` (a GPU tile takes milliseconds; the database
must not see one query per tile). Nothing here knows about Django or jobs.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from ml.errors import MLError


class Cancelled(MLError):
    """The computation was stopped on request (``str(exc)`` is the reason)."""


class CancelToken:
    def __init__(self, poll: Callable[[], str | None] | None = None, *, min_interval_s: float = 0.5) -> None:
        self._poll = poll
        self._min_interval_s = min_interval_s
        self._last_poll = float("-inf")
        self._reason: str | None = None
        self._lock = threading.Lock()
        self.checks = 0  # how often the pipeline asked (tests and benchmarks read it)

    def cancel(self, reason: str = "canceled") -> None:
        with self._lock:
            if self._reason is None:
                self._reason = reason

    @property
    def reason(self) -> str | None:
        return self._reason

    def check(self) -> None:
        """Raise ``Cancelled`` if the token is (or, per ``poll``, has just become) canceled."""
        self.checks += 1
        if self._reason is None and self._poll is not None:
            now = time.monotonic()
            if now - self._last_poll >= self._min_interval_s:
                self._last_poll = now
                reason = self._poll()
                if reason:
                    self.cancel(reason)
        if self._reason is not None:
            raise Cancelled(self._reason)


class _NeverCancelled(CancelToken):
    """The default token: nobody can cancel it."""

    def cancel(self, reason: str = "canceled") -> None:
        raise TypeError("NEVER cannot be canceled; pass a CancelToken of your own")

    def check(self) -> None:
        return None


NEVER = _NeverCancelled()
