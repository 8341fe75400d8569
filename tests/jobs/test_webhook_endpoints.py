"""Webhook endpoints, end to end: a real Dramatiq worker delivers to real local HTTP receivers.
An endpoint gets the events of every job of its organization in addition to the request's own
``webhook``; a test event and a replay go through the same delivery, signing and records; billing
events reach the endpoints subscribed to them."""

from __future__ import annotations

import importlib
import json

import pytest
from django.apps import apps as django_apps
from django.test import Client
from django.urls import reverse
from standardwebhooks import Webhook

from billing.alerts import alerts_check
from billing.models import BillingAccount
from jobs.endpoints import webhook_endpoint_create
from jobs.models import Job, WebhookDelivery, WebhookEndpoint
from jobs.services import job_submit
from tests.accounts.factories import OrganizationFactory, UserFactory
from tests.jobs.conftest import PLAIN, image_input, wait_until

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def owner(db):
    return UserFactory(username="olivia", email="olivia@acme.test")


@pytest.fixture
def acme(owner):
    return OrganizationFactory(name="Acme Photos", owner=owner, initial_credit=1000)


@pytest.fixture
def owner_client(owner, acme):
    client = Client()
    client.force_login(owner)
    return client


def settled(**filters) -> list[WebhookDelivery]:
    deliveries = list(WebhookDelivery.objects.filter(**filters))
    if deliveries and all(d.status != WebhookDelivery.Status.PENDING for d in deliveries):
        return deliveries
    return []


def test_a_test_event_sent_from_the_dashboard_arrives_signed_and_its_attempt_is_shown(
    worker, receiver, owner_client, acme
):
    response = owner_client.post(
        reverse("dashboard:webhook_endpoint_create"),
        {"url": receiver.url, "events": ["completed"], "description": "Our receiver", "enabled": "on"},
    )
    endpoint = WebhookEndpoint.objects.get(organization=acme)
    assert response.status_code == 302 and response["Location"] == reverse(
        "dashboard:webhook_endpoint", args=[endpoint.id]
    )

    response = owner_client.post(reverse("dashboard:webhook_endpoint_test", args=[endpoint.id]))
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert response["Location"] == reverse("dashboard:webhook_delivery", args=[delivery.id])
    [request] = receiver.wait_for(1)
    event = Webhook(acme.webhook_secret).verify(request["body"], request["headers"])  # raises if unsigned
    assert event["type"] == "test" and event["data"]["endpoint"] == str(endpoint.id)
    assert request["headers"]["webhook-event"] == "test"

    [delivery] = wait_until(lambda: settled(endpoint=endpoint))
    assert (delivery.status, delivery.event, delivery.job) == (WebhookDelivery.Status.SUCCEEDED, "test", None)
    [attempt] = delivery.attempts.all()
    assert attempt.request_body == request["body"].decode()
    assert attempt.request_headers["webhook-id"] == delivery.message_id == request["headers"]["webhook-id"]
    assert (attempt.status_code, attempt.response_body) == (200, "ok")

    page = owner_client.get(reverse("dashboard:webhook_delivery", args=[delivery.id])).content.decode()
    assert "HTTP 200" in page and f"{attempt.latency_ms} ms" in page
    assert "A test event from CodeFormer Cloud" in page  # the request body
    assert delivery.message_id in page and "webhook-signature" in page  # the headers sent
    assert acme.webhook_secret not in page  # never the secret itself


def test_a_completed_job_goes_to_each_subscribed_endpoint_and_to_its_own_webhook(worker, receiver_factory, acme):
    own, completed, starts, disabled = (receiver_factory() for _ in range(4))
    webhook_endpoint_create(organization=acme, url=completed.url, events=["completed"])
    webhook_endpoint_create(organization=acme, url=starts.url, events=["start"])
    webhook_endpoint_create(organization=acme, url=disabled.url, events=["completed"], enabled=False)
    other = OrganizationFactory(name="Other Corp", initial_credit=1000)
    webhook_endpoint_create(organization=other, url=disabled.url, events=["completed"])

    jobs, _ = job_submit(
        organization=acme,
        params=PLAIN,
        images=[image_input()],
        source=Job.Source.GATEWAY,
        webhook_url=own.url,
        webhook_events=["completed"],
    )
    job = jobs[0]
    wait_until(lambda: settled(job=job) if len(settled(job=job)) == 3 else [])

    [mine] = own.wait_for(1)
    [theirs] = completed.wait_for(1)
    [started] = starts.wait_for(1)
    verifier = Webhook(acme.webhook_secret)
    assert verifier.verify(mine["body"], mine["headers"])["status"] == "COMPLETED"
    assert verifier.verify(theirs["body"], theirs["headers"])["request_id"] == job.request_id
    assert json.loads(theirs["body"])["status"] == "COMPLETED"
    assert json.loads(started["body"])["status"] == "PROCESSING"
    assert disabled.requests == []  # disabled here, and the other organization's endpoint saw nothing
    assert sorted((d.event, d.endpoint_id is not None) for d in WebhookDelivery.objects.filter(job=job)) == [
        ("completed", False),
        ("completed", True),
        ("start", True),
    ]


def test_replaying_a_delivery_sends_the_same_body_again_as_a_new_delivery(worker, receiver, owner_client, acme):
    endpoint = webhook_endpoint_create(organization=acme, url=receiver.url, events=["completed"])
    owner_client.post(reverse("dashboard:webhook_endpoint_test", args=[endpoint.id]))
    [original] = wait_until(lambda: settled(endpoint=endpoint))

    response = owner_client.post(reverse("dashboard:webhook_delivery_replay", args=[original.id]))
    replay = WebhookDelivery.objects.get(replay_of=original)
    assert response["Location"] == reverse("dashboard:webhook_delivery", args=[replay.id])
    first, again = receiver.wait_for(2)
    assert again["body"] == first["body"]
    assert again["headers"]["webhook-id"] == first["headers"]["webhook-id"] == original.message_id
    Webhook(acme.webhook_secret).verify(again["body"], again["headers"])
    wait_until(lambda: settled(id=replay.id))
    replay.refresh_from_db()
    assert (replay.status, replay.event, replay.endpoint_id) == ("succeeded", "test", endpoint.id)
    assert WebhookDelivery.objects.filter(endpoint=endpoint).count() == 2
    page = owner_client.get(reverse("dashboard:webhook_delivery", args=[replay.id])).content.decode()
    assert "Replay of" in page


def test_billing_events_go_to_the_endpoints_subscribed_to_them(worker, receiver_factory, acme, monkeypatch):
    from billing import actors

    billing, jobs_only = receiver_factory(), receiver_factory()
    webhook_endpoint_create(organization=acme, url=billing.url, events=["billing.balance_low"])
    webhook_endpoint_create(organization=acme, url=jobs_only.url, events=["completed"])
    # The old per-account URL, set to the same receiver: the event is not sent to it twice.
    BillingAccount.objects.create(organization=acme, low_balance_threshold=995, webhook_url=billing.url)
    legacy = []
    monkeypatch.setattr(actors.deliver_billing_event, "send", lambda *args: legacy.append(args))

    job_submit(organization=acme, params=PLAIN, images=[image_input()], source="gateway")  # 990 available
    alerts_check(organization_id=acme.id)

    [request] = billing.wait_for(1)
    event = Webhook(acme.webhook_secret).verify(request["body"], request["headers"])
    assert event["type"] == "billing.balance_low" and event["data"] == {"available": 990, "threshold": 995}
    assert legacy == []
    delivery = WebhookDelivery.objects.get(event="billing.balance_low")
    assert delivery.job is None and delivery.url == billing.url


def test_the_migration_moves_a_billing_webhook_url_into_an_endpoint(acme):
    BillingAccount.objects.create(organization=acme, webhook_url="https://hooks.example.com/billing")
    migration = importlib.import_module("jobs.migrations.0006_webhook_endpoints")
    migration.move_billing_webhook_urls(django_apps, None)
    endpoint = WebhookEndpoint.objects.get(organization=acme)
    assert endpoint.url == "https://hooks.example.com/billing" and endpoint.enabled
    assert endpoint.events == migration.BILLING_EVENTS
    from billing.notify import EVENT_TYPES

    assert sorted(endpoint.events) == sorted(EVENT_TYPES.values())  # every billing event of today
    assert BillingAccount.objects.get(organization=acme).webhook_url == ""
