"""Webhooks delivered to a real local HTTP receiver, signed per Standard Webhooks."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from accounts.models import Organization
from accounts.services import webhook_secret_rotate
from jobs.models import Job, WebhookDelivery
from jobs.selectors import webhook_deliveries_for
from jobs.services import job_cancel, job_submit
from jobs.webhooks import signed_headers, webhook_deliver, webhook_sweep
from ml.errors import RestorationFailed
from tests.accounts.factories import OrganizationFactory
from tests.jobs.conftest import PLAIN, image_input, wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def submit(org, **kwargs) -> Job:
    kwargs.setdefault("images", [image_input()])
    jobs, _ = job_submit(organization=org, params=PLAIN, source=Job.Source.GATEWAY, **kwargs)
    return jobs[0]


def settled(job) -> list[WebhookDelivery]:
    """The job's deliveries once none is pending any more."""
    deliveries = list(WebhookDelivery.objects.filter(job=job))
    if deliveries and all(d.status != WebhookDelivery.Status.PENDING for d in deliveries):
        return deliveries
    return []


def finished(job) -> Job | None:
    job.refresh_from_db()
    return job if job.is_terminal else None


def test_every_event_is_delivered_signed_with_the_status_object_as_body(worker, receiver):
    org = OrganizationFactory(name="Acme", initial_credit=1000)
    job = submit(org, webhook_url=receiver.url)

    wait_until(lambda: finished(job))
    deliveries = wait_until(lambda: settled(job))

    requests = receiver.wait_for(len(deliveries))
    assert len(requests) == len(deliveries) == 6  # start, logs x3 (decode, restore, encode), output, completed
    verifier = Webhook(org.webhook_secret)
    bodies = {}
    for request in requests:
        payload = verifier.verify(request["body"], request["headers"])  # raises if the signature is wrong
        delivery = WebhookDelivery.objects.get(id=_delivery_id(request))
        bodies.setdefault(delivery.event, []).append(payload)
        assert payload["request_id"] == job.request_id
        # One User-Agent, the webhooks' own (the fetcher's default once went out beside it).
        agents = [value for name, value in request["header_lines"] if name.lower() == "user-agent"]
        assert agents == ["codeformer-webhooks/1.0"]
    assert sorted((event, len(items)) for event, items in bodies.items()) == [
        ("completed", 1),
        ("logs", 3),
        ("output", 1),
        ("start", 1),
    ]
    assert bodies["start"][0]["status"] == "PROCESSING"
    completed = bodies["completed"][0]
    assert completed["status"] == "COMPLETED"
    assert completed["model_id"] == "codeformer-image-restoration"
    assert completed["error"] is None
    assert completed["output"]["media_type"] == "image/png"
    assert completed["output"]["media_url"][0].endswith("/output.png")
    # The cost is the final one although the capture is written after the event is recorded.
    job.refresh_from_db()
    assert completed["cost"] == {"currency": "USD", "price": job.price, "charged": job.price, "refunded": 0}
    assert bodies["start"][0]["cost"]["charged"] == 0
    for delivery in deliveries:
        assert delivery.status == WebhookDelivery.Status.SUCCEEDED
        [attempt] = delivery.attempts.all()
        assert (attempt.number, attempt.status_code, attempt.error) == (1, 200, "")
        assert attempt.latency_ms is not None


def _delivery_id(request) -> str:
    import uuid

    return str(uuid.UUID(hex=request["headers"]["webhook-id"].removeprefix("msg_")))


def test_the_event_filter_is_honoured(worker, receiver):
    org = OrganizationFactory(name="Acme", initial_credit=1000)
    job = submit(org, webhook_url=receiver.url, webhook_events=["completed"])

    wait_until(lambda: finished(job))
    wait_until(lambda: settled(job))

    assert [json.loads(r["body"])["status"] for r in receiver.wait_for(1)] == ["COMPLETED"]
    assert list(WebhookDelivery.objects.filter(job=job).values_list("event", flat=True)) == ["completed"]


@pytest.mark.parametrize(
    ("image", "fail_with", "expected"),
    [
        (image_input(), RestorationFailed("broken stage"), "ERROR"),
        (image_input(data=b"not an image at all"), None, "FAILED"),
    ],
)
def test_completed_is_sent_for_failed_and_errored_jobs_too(worker, receiver, fake_engine, image, fail_with, expected):
    fake_engine.fail_with = fail_with
    org = OrganizationFactory(name="Acme", initial_credit=1000)
    job = submit(org, images=[image], webhook_url=receiver.url, webhook_events=["completed"])

    wait_until(lambda: finished(job))
    wait_until(lambda: settled(job))

    [request] = receiver.wait_for(1)
    payload = Webhook(org.webhook_secret).verify(request["body"], request["headers"])
    assert payload["status"] == expected
    assert payload["error"]
    assert payload["output"] is None


def test_completed_is_sent_when_a_job_is_canceled(broker, receiver):
    org = OrganizationFactory(name="Acme", initial_credit=1000)
    job = submit(org, webhook_url=receiver.url, webhook_events=["completed"])
    job_cancel(organization=org, job=job)
    [delivery] = WebhookDelivery.objects.filter(job=job)

    webhook_deliver(delivery_id=delivery.id)

    [request] = receiver.wait_for(1)
    assert Webhook(org.webhook_secret).verify(request["body"], request["headers"])["status"] == "CANCELED"


def test_a_failed_delivery_is_retried_with_back_off_and_every_attempt_is_recorded(worker, receiver_factory, settings):
    settings.WEBHOOK_RETRY_DELAYS_S = [1, 1, 1, 1, 1]
    receiver = receiver_factory([500, 200])
    org = OrganizationFactory(name="Acme", initial_credit=1000)
    job = submit(org, webhook_url=receiver.url, webhook_events=["completed"])

    [delivery] = wait_until(lambda: settled(job))

    requests = receiver.wait_for(2)
    assert [r["status"] for r in requests] == [500, 200]
    # Same message id on the retry, so receivers can de-duplicate.
    assert requests[0]["headers"]["webhook-id"] == requests[1]["headers"]["webhook-id"] == delivery.message_id
    assert delivery.status == WebhookDelivery.Status.SUCCEEDED
    assert delivery.attempt_count == 2
    first, second = delivery.attempts.all()
    assert (first.number, first.status_code, first.error) == (1, 500, "receiver answered HTTP 500")
    assert (second.number, second.status_code, second.error) == (2, 200, "")


def test_a_delivery_that_never_succeeds_fails_after_the_last_retry(worker, receiver_factory, settings):
    settings.WEBHOOK_RETRY_DELAYS_S = [1, 1]
    receiver = receiver_factory([503])
    org = OrganizationFactory(name="Acme", initial_credit=1000)
    job = submit(org, webhook_url=receiver.url, webhook_events=["completed"])

    [delivery] = wait_until(lambda: settled(job))

    assert delivery.status == WebhookDelivery.Status.FAILED
    assert [a.status_code for a in delivery.attempts.all()] == [503, 503, 503]
    assert len(receiver.requests) == 3


def test_the_default_retry_schedule_makes_at_least_five_attempts_over_an_hour(settings):
    from config.settings import WEBHOOK_RETRY_DELAYS_S

    assert len(WEBHOOK_RETRY_DELAYS_S) + 1 >= 5
    assert sum(WEBHOOK_RETRY_DELAYS_S) >= 3600
    assert sorted(WEBHOOK_RETRY_DELAYS_S) == WEBHOOK_RETRY_DELAYS_S


def test_an_unreachable_receiver_is_recorded_as_a_failed_attempt(broker, receiver_factory, settings):
    receiver = receiver_factory([200])
    org = OrganizationFactory(name="Acme", initial_credit=1000)
    job = submit(org, webhook_url=receiver.url, webhook_events=["completed"])
    job_cancel(organization=org, job=job)
    receiver.server.shutdown()
    receiver.server.server_close()
    [delivery] = WebhookDelivery.objects.filter(job=job)

    webhook_deliver(delivery_id=delivery.id)

    delivery.refresh_from_db()
    [attempt] = delivery.attempts.all()
    assert attempt.status_code is None and attempt.error
    assert delivery.status == WebhookDelivery.Status.PENDING
    assert delivery.next_attempt_at > timezone.now()


def test_a_url_that_became_private_is_refused_at_send_time(broker, receiver, settings):
    org = OrganizationFactory(name="Acme", initial_credit=1000)
    job = submit(org, webhook_url=receiver.url, webhook_events=["completed"])  # allowed at submission
    job_cancel(organization=org, job=job)
    settings.OUTBOUND_ALLOWED_NETWORKS = []  # ...but no longer when sending
    [delivery] = WebhookDelivery.objects.filter(job=job)

    webhook_deliver(delivery_id=delivery.id)

    delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.Status.FAILED
    assert "UnsafeURL" in delivery.attempts.get().error
    assert receiver.requests == []


def test_during_a_secret_rotation_both_secrets_verify_the_delivery(broker, receiver):
    org = OrganizationFactory(name="Acme", initial_credit=1000)
    old_secret = org.webhook_secret
    new_secret = webhook_secret_rotate(organization=org)
    assert new_secret != old_secret
    job = submit(org, webhook_url=receiver.url, webhook_events=["completed"])
    job_cancel(organization=org, job=job)
    [delivery] = WebhookDelivery.objects.filter(job=job)

    webhook_deliver(delivery_id=delivery.id)

    [request] = receiver.wait_for(1)
    assert len(request["headers"]["webhook-signature"].split(" ")) == 2
    assert Webhook(new_secret).verify(request["body"], request["headers"])["status"] == "CANCELED"
    assert Webhook(old_secret).verify(request["body"], request["headers"])["status"] == "CANCELED"


def test_after_the_overlap_only_the_new_secret_signs(db, settings):
    org = OrganizationFactory(name="Acme", initial_credit=1000)
    old_secret = org.webhook_secret
    new_secret = webhook_secret_rotate(organization=org)
    Organization.objects.filter(id=org.id).update(
        webhook_secret_rotated_at=timezone.now() - timedelta(hours=settings.WEBHOOK_SECRET_OVERLAP_HOURS, minutes=1)
    )
    org.refresh_from_db()
    body = json.dumps({"status": "COMPLETED"})

    headers = signed_headers(organization=org, message_id="msg_1", body=body)

    assert len(headers["webhook-signature"].split(" ")) == 1
    Webhook(new_secret).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(old_secret).verify(body, headers)


def test_the_sweep_resends_a_delivery_whose_message_was_lost(worker, receiver):
    org = OrganizationFactory(name="Acme", initial_credit=1000)
    job = submit(org, webhook_url=receiver.url, webhook_events=["completed"])
    wait_until(lambda: finished(job))
    wait_until(lambda: settled(job))
    lost = WebhookDelivery.objects.create(
        organization=org,
        job=job,
        event="completed",
        url=receiver.url,
        payload={"status": "COMPLETED"},
        next_attempt_at=timezone.now() - timedelta(hours=1),
    )

    assert webhook_sweep() == 1

    wait_until(lambda: WebhookDelivery.objects.get(id=lost.id).status == WebhookDelivery.Status.SUCCEEDED)
    assert len(receiver.wait_for(2)) == 2


def test_an_outsider_cannot_read_another_organizations_deliveries(broker, receiver):
    org = OrganizationFactory(name="Acme", initial_credit=1000)
    outsider = OrganizationFactory(name="Other Corp", initial_credit=1000)
    job = submit(org, webhook_url=receiver.url)
    job_cancel(organization=org, job=job)

    assert webhook_deliveries_for(org).count() == 1
    assert webhook_deliveries_for(org, job=job).count() == 1
    assert webhook_deliveries_for(outsider).count() == 0
    assert webhook_deliveries_for(outsider, job=job).count() == 0
