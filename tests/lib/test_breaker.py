"""The per-process circuit breaker that lets a request skip a Redis that just failed."""

from __future__ import annotations

import gc

from lib.breaker import CircuitBreaker, breaker_of, reset_all


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_it_allows_calls_until_a_failure_then_none_for_the_open_period():
    clock = Clock()
    breaker = CircuitBreaker("redis", open_for_s=15, clock=clock)
    assert breaker.allows()

    assert breaker.record_failure() is True  # this failure opened it
    assert not breaker.allows()
    clock.now += 14.9
    assert not breaker.allows()
    clock.now += 0.1
    assert breaker.allows()  # the next call tries again


def test_a_failure_while_open_extends_it_and_is_not_reported_as_opening_it():
    clock = Clock()
    breaker = CircuitBreaker("redis", open_for_s=10, clock=clock)
    breaker.record_failure()
    clock.now += 5
    assert breaker.record_failure() is False
    clock.now += 9
    assert not breaker.allows()


def test_a_success_closes_it():
    breaker = CircuitBreaker("redis", open_for_s=60, clock=Clock())
    breaker.record_failure()
    breaker.record_success()
    assert breaker.allows()


def test_each_client_has_its_own_breaker_which_goes_away_with_it():
    class Client:
        pass

    first, second = Client(), Client()
    assert breaker_of(first, open_for_s=5) is breaker_of(first, open_for_s=5)
    breaker_of(first, open_for_s=5).record_failure()
    assert not breaker_of(first, open_for_s=5).allows()
    assert breaker_of(second, open_for_s=5).allows()

    reset_all()
    assert breaker_of(first, open_for_s=5).allows()

    from lib import breaker as module

    del first
    gc.collect()
    assert all(not isinstance(client, Client) or client is second for client in module._breakers)
