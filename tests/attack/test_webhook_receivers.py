"""Webhook receivers that drip, stall or outlive the worker: every attempt is recorded, each is
bounded by the delivery deadline, and the delivery gives up after the last retry."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from dramatiq.middleware.time_limit import TimeLimitExceeded

from jobs import webhooks
from jobs.models import Job, WebhookAttempt, WebhookDelivery
from jobs.services import job_cancel, job_submit
from jobs.webhooks import webhook_deliver, webhook_sweep
from tests.attack.peers import drip_headers, hostile_server, run_bounded, stall_after_connect
from tests.jobs.conftest import PLAIN, image_input
from tests.restoration.conftest import LOCALHOST

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _fast_retries(settings):
    settings.OUTBOUND_ALLOWED_NETWORKS = [LOCALHOST]
    settings.WEBHOOK_TIMEOUT_S = 1
    settings.WEBHOOK_RETRY_DELAYS_S = [0, 0]  # three attempts in all, each due at once


def _delivery_to(org, url: str) -> WebhookDelivery:
    jobs, _ = job_submit(
        organization=org,
        params=PLAIN,
        images=[image_input()],
        source=Job.Source.GATEWAY,
        webhook_url=url,
        webhook_events=["completed"],
    )
    job_cancel(organization=org, job=jobs[0])  # emits the one "completed" event
    return WebhookDelivery.objects.get(job=jobs[0])


@pytest.mark.parametrize("behaviour", [drip_headers, stall_after_connect], ids=lambda b: b.__name__)
def test_a_slow_receiver_costs_one_bounded_attempt_each_time_then_the_delivery_fails(org, broker, behaviour):
    with hostile_server(behaviour) as base:
        delivery = _delivery_to(org, base + "/hook")
        for _ in range(3):
            outcome = run_bounded(lambda: webhook_deliver(delivery_id=delivery.id), within_s=15)
            assert "error" not in outcome, outcome  # recorded, never raised
        assert webhook_deliver(delivery_id=delivery.id) is None  # nothing left to try

    delivery.refresh_from_db()
    attempts = list(WebhookAttempt.objects.filter(delivery=delivery))
    assert delivery.status == WebhookDelivery.Status.FAILED
    assert [a.number for a in attempts] == [1, 2, 3]
    assert all("did not answer in time" in a.error for a in attempts)


@pytest.mark.parametrize("mid_query", [False, True], ids=["between queries", "inside a query"])
def test_an_attempt_stopped_by_the_time_limit_is_recorded_and_retried(org, broker, monkeypatch, mid_query):
    delivery = _delivery_to(org, "http://127.0.0.1:9/hook")

    def stopped(*args, **kwargs):
        if mid_query:  # the interrupt landed inside the driver: a query sent, its answer unread
            connection.ensure_connection()
            connection.connection.pgconn.send_query(b"SELECT pg_sleep(0.05)")
        raise TimeLimitExceeded()

    monkeypatch.setattr("jobs.webhooks.post_public_json_answer", stopped)
    attempt = webhook_deliver(delivery_id=delivery.id)

    assert attempt is not None and "time limit" in attempt.error
    delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.Status.PENDING
    assert delivery.next_attempt_at is not None  # the next try is scheduled, not left to the sweep
    for _ in range(2):
        webhook_deliver(delivery_id=delivery.id)
    delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.Status.FAILED
    assert delivery.attempts.count() == 3


def test_attempts_lost_with_a_killed_worker_count_and_the_sweep_ends_the_delivery(org, broker):
    delivery = _delivery_to(org, "http://127.0.0.1:9/hook")
    long_ago = timezone.now() - webhooks.LOST_DELIVERY_GRACE - timedelta(minutes=5)
    for number in (1, 2, 3):
        # A worker claims the attempt and dies before recording it.
        assert webhooks._claim_attempt(delivery.id) is not None
        WebhookDelivery.objects.filter(id=delivery.id).update(updated_at=long_ago)
        assert webhook_sweep() == 1
        assert WebhookAttempt.objects.filter(delivery=delivery, number=number).exists()

    delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.Status.FAILED
    assert webhook_sweep() == 0  # nothing re-sent without end
