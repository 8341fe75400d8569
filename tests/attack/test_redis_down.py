"""Redis refused or hung: a keyed submission is still accepted, charged only by its hold, and its
job is sent to the workers by the sweep once Redis answers again.

The rate limit and the job messages are pointed at a redis-server of the test's own; "hung" is
that server stopped with SIGSTOP (the kernel still accepts connections, nothing answers), which
a client without socket timeouts would wait on for ever.
"""

from __future__ import annotations

import base64

import dramatiq
import pytest
import redis
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from dramatiq.brokers.redis import RedisBroker

from accounts.ratelimit import build_limiter, get_limiter, storage_breaker
from billing.models import LedgerEntry, Wallet
from jobs.actors import process_job
from jobs.models import Job
from jobs.selectors import parse_request_id
from jobs.services import job_run, job_sweep_stale
from lib import breaker as breakers
from tests.attack.peers import run_bounded
from tests.attack.redis_server import free_port, own_redis_server
from tests.jobs.conftest import wait_until
from tests.restoration.conftest import GENERATE_URL, png_bytes

pytestmark = pytest.mark.django_db(transaction=True)

# A hang guard, not a speed assertion: many times the socket timeouts under test.
BOUND_S = 10
QUEUE = "gpu"


def test_every_redis_client_gives_up_well_under_a_second():
    expected = {
        "socket_connect_timeout": settings.REDIS_SOCKET_CONNECT_TIMEOUT_S,
        "socket_timeout": settings.REDIS_SOCKET_TIMEOUT_S,
    }
    assert all(0 < value < 1 for value in expected.values())

    # Dramatiq keeps the pool we built (given a url it would build its own, without timeouts).
    broker_pool = dramatiq.get_broker().client.connection_pool
    limiter_pool = build_limiter(settings.RATE_LIMIT_STORAGE_URI).storage.storage.connection_pool
    cache_pool = cache._cache._get_connection_pool(write=True)
    for pool in (broker_pool, limiter_pool, cache_pool):
        assert {name: pool.connection_kwargs.get(name) for name in expected} == expected


def _broker_on(url: str) -> RedisBroker:
    """A broker on ``url`` built exactly as config/settings.py builds the real one."""
    pool = redis.ConnectionPool.from_url(url, **settings.REDIS_CONNECTION_OPTIONS)
    return RedisBroker(connection_pool=pool, namespace="cf-attack", middleware=[])


class CountingBroker:
    """Counts the sends that reach the broker (the breaker should stop all but the first)."""

    def __init__(self, broker: RedisBroker):
        self.broker = broker
        self.sends = 0
        self._enqueue = broker.enqueue

        def enqueue(message, *, delay=None):
            self.sends += 1
            return self._enqueue(message, delay=delay)

        broker.enqueue = enqueue


@pytest.fixture
def redis_at(settings, monkeypatch):
    """Point the rate-limit counters and the job messages at a Redis URL of the test's choosing."""
    settings.REDIS_FAIL_OPEN_S = 1  # so that the test sees the fail-open period end

    def point(url: str) -> CountingBroker:
        settings.RATE_LIMIT_STORAGE_URI = url
        counting = CountingBroker(_broker_on(url))
        monkeypatch.setattr(process_job, "broker", counting.broker)
        return counting

    yield point
    breakers.reset_all()


def _submit(customer):
    """One keyed gateway submission, on a thread so that a hang fails the test instead of
    stalling it."""

    def call():
        try:
            return customer.client().post(
                GENERATE_URL, {"image_base64": base64.b64encode(png_bytes()).decode()}, format="json"
            )
        finally:
            connection.close()

    outcome = run_bounded(call, within_s=BOUND_S)
    assert "error" not in outcome, outcome
    return outcome["value"]


def _accepted_job(response) -> Job:
    assert response.status_code == 202, response.content
    return Job.objects.get(id=parse_request_id(response.json()["request_id"]))


def _assert_held_and_unsent(job: Job, wallet_before: Wallet) -> None:
    assert job.status == Job.Status.QUEUED
    assert job.enqueue_failed_at is not None  # the sweep's cue
    assert list(LedgerEntry.objects.filter(job=job).values_list("kind", "held_change")) == [
        (LedgerEntry.Kind.HOLD, job.price)
    ]
    wallet = Wallet.objects.get(id=wallet_before.id)
    assert (wallet.balance, wallet.held) == (wallet_before.balance, wallet_before.held + job.price)


def _sent_job_ids(broker: RedisBroker) -> list[str]:
    """The job ids of the run messages waiting in ``broker``'s gpu queue (consumed and acked)."""
    consumer = broker.consume(QUEUE, prefetch=10, timeout=100)
    found = []
    try:
        for _ in range(20):
            message = next(consumer)
            if message is None:
                if found:
                    break
                continue
            found.append(message.args[0])
            consumer.ack(message)
    finally:
        consumer.close()
    return found


def _recover_and_run(customer, counting: CountingBroker, jobs: list[Job]) -> None:
    """Once Redis answers: the fail-open period ends, the sweep sends the jobs, a worker runs
    them (captured), and requests are counted again."""
    wait_until(lambda: storage_breaker(get_limiter()).allows(), timeout=BOUND_S)
    wait_until(lambda: breakers.breaker_of(counting.broker, open_for_s=1).allows(), timeout=BOUND_S)
    counts = job_sweep_stale()
    assert counts["resent"] == len(jobs)
    assert sorted(_sent_job_ids(counting.broker)) == sorted(str(job.id) for job in jobs)
    for job in jobs:
        job.refresh_from_db()
        assert job.enqueue_failed_at is None
        job_run(job_id=job.id)
        job.refresh_from_db()
        assert job.status == Job.Status.COMPLETED, job.error
        assert sorted(LedgerEntry.objects.filter(job=job).values_list("kind", flat=True)) == sorted(
            [LedgerEntry.Kind.HOLD, LedgerEntry.Kind.CAPTURE]
        )
    assert job_sweep_stale()["resent"] == 0  # sent once, not on every sweep

    counted = _submit(customer)
    limit = customer.org.plan.requests_per_minute
    assert counted["RateLimit-Remaining"] == str(limit - 1)  # the outage's requests were not counted
    assert _accepted_job(counted).enqueue_failed_at is None


def test_a_refused_redis_fails_open_and_the_sweep_sends_the_jobs_once_it_is_back(customer, redis_at):
    port = free_port()  # nobody listens: every connection is refused at once
    counting = redis_at(f"redis://127.0.0.1:{port}/0")
    wallet_before = Wallet.objects.get(organization=customer.org)

    job = _accepted_job(_submit(customer))

    _assert_held_and_unsent(job, wallet_before)
    assert not storage_breaker(get_limiter()).allows()  # rate limiting is off in this process, for now
    assert counting.sends == 1

    # Meanwhile a second submission does not even try Redis: accepted, marked for the sweep.
    second = _accepted_job(_submit(customer))
    assert second.enqueue_failed_at is not None
    assert counting.sends == 1

    with own_redis_server(port):
        _recover_and_run(customer, counting, [job, second])


def test_a_hung_redis_costs_a_timeout_not_the_web_worker_and_the_sweep_sends_the_jobs_later(customer, redis_at):
    with own_redis_server() as server:
        counting = redis_at(server.url)
        wallet_before = Wallet.objects.get(organization=customer.org)
        server.hang()

        job = _accepted_job(_submit(customer))

        _assert_held_and_unsent(job, wallet_before)
        assert not storage_breaker(get_limiter()).allows()
        second = _accepted_job(_submit(customer))  # no second timeout: the breakers are open
        assert second.enqueue_failed_at is not None
        assert counting.sends == 1

        server.resume()
        _recover_and_run(customer, counting, [job, second])
