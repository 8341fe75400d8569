"""Counted slots shared by every process: "at most N of these at once" across web workers.

A slot is a counter in Django's cache (Redis in production, so all web processes share it;
process memory in the embedded mode). Taking one increments it, leaving decrements it. A
process killed inside a slot leaks its increment only until the counter's time-to-live ends,
so the TTL must exceed the longest time a slot is held (callers pass the work's own deadline
plus a margin).

The cache failing (down or hung) opens the gate rather than closing it: the slots bound load,
they are not a security control, and the work they guard has its own deadline.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from django.core.cache import cache

logger = logging.getLogger(__name__)


class NoSlotFree(Exception):
    """All ``limit`` slots of the name are taken."""

    def __init__(self, name: str, limit: int):
        super().__init__(f"all {limit} slots of {name} are taken")
        self.limit = limit


@contextmanager
def concurrency_slot(name: str, *, limit: int, ttl_s: int) -> Iterator[None]:
    """Hold one of ``limit`` slots named ``name`` for the block; raise NoSlotFree when none is
    free (the block does not run). ``limit <= 0`` means unlimited."""
    if limit <= 0:
        yield
        return
    key = f"slot:{name}"
    taken = _take(key, ttl_s)
    if taken is not None and taken > limit:
        _give_back(key)
        raise NoSlotFree(name, limit)
    try:
        yield
    finally:
        if taken is not None:
            _give_back(key)


def _take(key: str, ttl_s: int) -> int | None:
    try:
        for _ in range(2):
            cache.add(key, 0, timeout=ttl_s)
            try:
                count = cache.incr(key)
            except ValueError:
                continue  # the counter expired between add and incr: create it again
            cache.touch(key, timeout=ttl_s)
            return count
    except Exception:
        logger.warning("slot counter %s unavailable; not limiting", key, exc_info=True)
    return None


def _give_back(key: str) -> None:
    try:
        if cache.decr(key) < 0:
            # The counter expired while the slot was held and was re-created by someone else:
            # do not let it go negative, which would admit one more than the limit.
            cache.incr(key)
    except ValueError:
        pass  # expired meanwhile: nothing to give back
    except Exception:
        logger.warning("could not release slot %s; its TTL will", key, exc_info=True)
