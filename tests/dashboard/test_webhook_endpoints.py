"""Webhook endpoint pages: owners and admins add, edit, disable and remove endpoints; members
read them; an outsider gets 404. A URL that reaches our own network is refused with a form
error and changes nothing. (Deliveries to a real receiver: tests/jobs/test_webhook_endpoints.py.)"""

from __future__ import annotations

import pytest
from django.urls import reverse

from jobs.endpoints import webhook_endpoint_create, webhook_endpoint_send_test
from jobs.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint

pytestmark = pytest.mark.django_db

# A public address literal: check_public_url accepts it without a DNS lookup (none here), and
# nothing is sent to it (on_commit callbacks do not run in these tests).
PUBLIC = "https://93.184.216.34/codeformer-hook"


def form(url=PUBLIC, events=("completed", "billing.balance_low"), **extra) -> dict:
    return {"url": url, "events": list(events), "description": "CI receiver", "enabled": "on", **extra}


@pytest.fixture
def endpoint(org):
    return webhook_endpoint_create(organization=org, url=PUBLIC, events=["completed"], description="Main")


def test_an_owner_adds_edits_disables_and_removes_an_endpoint(owner_client, org):
    response = owner_client.post(reverse("dashboard:webhook_endpoint_create"), form())
    endpoint = WebhookEndpoint.objects.get(organization=org)
    assert response.status_code == 302
    assert (endpoint.url, endpoint.events, endpoint.description, endpoint.enabled) == (
        PUBLIC,
        ["completed", "billing.balance_low"],
        "CI receiver",
        True,
    )
    listing = owner_client.get(reverse("dashboard:webhooks")).content.decode()
    assert PUBLIC in listing and "billing.balance_low" in listing

    url = reverse("dashboard:webhook_endpoint", args=[endpoint.id])
    response = owner_client.post(url, {"url": PUBLIC + "/v2", "events": ["start", "logs"], "description": "New"})
    assert response.status_code == 302
    endpoint.refresh_from_db()
    assert (endpoint.url, endpoint.events, endpoint.description, endpoint.enabled) == (
        PUBLIC + "/v2",
        ["start", "logs"],
        "New",
        False,  # the checkbox left out: disabled
    )

    response = owner_client.post(reverse("dashboard:webhook_endpoint_delete", args=[endpoint.id]))
    assert response.status_code == 302
    assert not WebhookEndpoint.objects.filter(organization=org).exists()


def test_removing_an_endpoint_keeps_its_deliveries_and_stops_the_pending_ones(owner_client, org, endpoint):
    delivery = webhook_endpoint_send_test(endpoint=endpoint)
    owner_client.post(reverse("dashboard:webhook_endpoint_delete", args=[endpoint.id]))
    delivery.refresh_from_db()
    assert delivery.endpoint is None and delivery.status == WebhookDelivery.Status.FAILED
    assert owner_client.get(reverse("dashboard:webhook_delivery", args=[delivery.id])).status_code == 200


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hook",
        "http://10.0.0.5/hook",
        "http://169.254.169.254/latest/meta-data",
        "ftp://93.184.216.34/",
    ],
)
def test_a_url_inside_our_network_is_refused_with_a_form_error_and_nothing_changes(
    owner_client, org, endpoint, settings, url
):
    settings.OUTBOUND_ALLOWED_NETWORKS = []
    response = owner_client.post(reverse("dashboard:webhook_endpoint_create"), form(url=url))
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert "url" in errors
    assert WebhookEndpoint.objects.filter(organization=org).count() == 1

    response = owner_client.post(reverse("dashboard:webhook_endpoint", args=[endpoint.id]), form(url=url))
    assert response.status_code == 400 and "url" in response.context["form"].errors
    endpoint.refresh_from_db()
    assert (endpoint.url, endpoint.events, endpoint.description) == (PUBLIC, ["completed"], "Main")


def test_the_refusal_says_why(owner_client, settings):
    settings.OUTBOUND_ALLOWED_NETWORKS = []
    body = owner_client.post(reverse("dashboard:webhook_endpoint_create"), form(url="http://127.0.0.1/x")).content
    assert "points to an address the server may not reach" in body.decode()


@pytest.mark.parametrize("events", [(), ("completed", "payment.stolen")])
def test_no_or_unknown_events_are_refused(owner_client, org, events):
    response = owner_client.post(reverse("dashboard:webhook_endpoint_create"), form(events=events))
    assert response.status_code == 400 and "events" in response.context["form"].errors
    assert not WebhookEndpoint.objects.filter(organization=org).exists()


def test_the_service_refuses_unknown_events_too(org):
    from config.errors import BadRequest

    with pytest.raises(BadRequest):
        webhook_endpoint_create(organization=org, url=PUBLIC, events=["nope"])
    assert not WebhookEndpoint.objects.filter(organization=org).exists()


def test_a_member_reads_endpoints_and_deliveries_but_cannot_change_anything(teammate_client, org, endpoint):
    delivery = webhook_endpoint_send_test(endpoint=endpoint)
    assert PUBLIC in teammate_client.get(reverse("dashboard:webhooks")).content.decode()
    page = teammate_client.get(reverse("dashboard:webhook_endpoint", args=[endpoint.id]))
    assert page.status_code == 200 and "Send a test event" not in page.content.decode()
    assert teammate_client.get(reverse("dashboard:webhook_delivery", args=[delivery.id])).status_code == 200

    writes = [
        (reverse("dashboard:webhook_endpoint_create"), form(url=PUBLIC + "/mine")),
        (reverse("dashboard:webhook_endpoint", args=[endpoint.id]), form(url=PUBLIC + "/mine")),
        (reverse("dashboard:webhook_endpoint_delete", args=[endpoint.id]), {}),
        (reverse("dashboard:webhook_endpoint_test", args=[endpoint.id]), {}),
        (reverse("dashboard:webhook_delivery_replay", args=[delivery.id]), {}),
    ]
    for url, data in writes:
        assert teammate_client.post(url, data).status_code == 403, url
    assert teammate_client.get(reverse("dashboard:webhook_endpoint_create")).status_code == 403
    endpoint.refresh_from_db()
    assert endpoint.url == PUBLIC and WebhookEndpoint.objects.filter(organization=org).count() == 1
    assert WebhookDelivery.objects.filter(organization=org).count() == 1


def test_an_outsider_gets_404_for_another_organizations_endpoint_and_delivery(outsider_client, org, endpoint):
    delivery = webhook_endpoint_send_test(endpoint=endpoint)
    for url in (
        reverse("dashboard:webhook_endpoint", args=[endpoint.id]),
        reverse("dashboard:webhook_delivery", args=[delivery.id]),
    ):
        assert outsider_client.get(url).status_code == 404
    for url in (
        reverse("dashboard:webhook_endpoint", args=[endpoint.id]),
        reverse("dashboard:webhook_endpoint_delete", args=[endpoint.id]),
        reverse("dashboard:webhook_endpoint_test", args=[endpoint.id]),
        reverse("dashboard:webhook_delivery_replay", args=[delivery.id]),
    ):
        assert outsider_client.post(url, form()).status_code == 404
    assert PUBLIC not in outsider_client.get(reverse("dashboard:webhooks")).content.decode()
    endpoint.refresh_from_db()
    assert endpoint.url == PUBLIC and WebhookDelivery.objects.filter(organization=org).count() == 1


def test_the_delivery_page_shows_each_attempts_body_headers_answer_and_timing(owner_client, org, endpoint):
    delivery = webhook_endpoint_send_test(endpoint=endpoint)
    WebhookAttempt.objects.create(
        delivery=delivery,
        number=1,
        status_code=500,
        latency_ms=431,
        error="receiver answered HTTP 500",
        request_body='{"type":"test","marker":"first-try"}',
        request_headers={"webhook-id": delivery.message_id, "webhook-signature": "v1,c2lnbmF0dXJl"},
        response_body="upstream exploded <b>here</b>",
    )
    body = owner_client.get(reverse("dashboard:webhook_delivery", args=[delivery.id])).content.decode()
    assert "HTTP 500" in body and "431 ms" in body and "receiver answered HTTP 500" in body
    assert "first-try" in body and "v1,c2lnbmF0dXJl" in body
    assert "upstream exploded &lt;b&gt;here&lt;/b&gt;" in body  # the receiver's answer, escaped
    assert "Replay this delivery" in body


def test_replay_of_a_replay_points_at_the_first_delivery(owner_client, org, endpoint):
    original = webhook_endpoint_send_test(endpoint=endpoint)
    owner_client.post(reverse("dashboard:webhook_delivery_replay", args=[original.id]))
    replay = WebhookDelivery.objects.get(replay_of=original)
    owner_client.post(reverse("dashboard:webhook_delivery_replay", args=[replay.id]))
    assert WebhookDelivery.objects.filter(replay_of=original).count() == 2
    assert {d.message_id for d in WebhookDelivery.objects.filter(organization=org)} == {original.message_id}


def test_the_webhooks_pages_query_count_does_not_grow_with_deliveries(owner_client, org, endpoint):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries(url: str) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert owner_client.get(url).status_code == 200
        return len(captured)

    pages = [reverse("dashboard:webhooks"), reverse("dashboard:webhook_endpoint", args=[endpoint.id])]
    webhook_endpoint_send_test(endpoint=endpoint)
    owner_client.get(pages[0])  # the first visit stores the chosen organization in the session
    few = [queries(url) for url in pages]
    for _ in range(6):
        delivery = webhook_endpoint_send_test(endpoint=endpoint)
        WebhookAttempt.objects.create(delivery=delivery, number=1, status_code=200, latency_ms=5)
    assert [queries(url) for url in pages] == few


def test_endpoint_changes_are_in_the_audit_trail_with_who_made_them(owner_client, owner, org):
    from auditlog.models import LogEntry
    from django.contrib.contenttypes.models import ContentType

    owner_client.post(reverse("dashboard:webhook_endpoint_create"), form())
    endpoint = WebhookEndpoint.objects.get(organization=org)
    owner_client.post(reverse("dashboard:webhook_endpoint", args=[endpoint.id]), form(url=PUBLIC + "/moved"))
    owner_client.post(reverse("dashboard:webhook_endpoint_delete", args=[endpoint.id]))
    entries = LogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(WebhookEndpoint), object_pk=str(endpoint.id)
    ).order_by("timestamp", "id")
    assert [e.action for e in entries] == [LogEntry.Action.CREATE, LogEntry.Action.UPDATE, LogEntry.Action.DELETE]
    assert all(e.actor_id == owner.id and e.additional_data["organization_id"] == str(org.id) for e in entries)
    assert entries[1].changes_dict["url"] == [PUBLIC, PUBLIC + "/moved"]


def test_a_new_endpoint_starts_with_finished_jobs_and_every_billing_notice(owner_client):
    form = owner_client.get(reverse("dashboard:webhook_endpoint_create")).context["form"]
    initial = form.initial["events"]
    assert "completed" in initial and {"start", "logs", "output"}.isdisjoint(initial)
    assert {"billing.balance_low", "billing.payment_failed"} <= set(initial)
    labels = dict(form.fields["events"].choices)
    assert labels["billing.balance_low"].startswith("billing.balance_low: ")


def test_a_new_endpoints_page_says_nothing_was_sent_to_it_yet(owner_client, endpoint):
    page = owner_client.get(reverse("dashboard:webhook_endpoint", args=[endpoint.id])).content.decode()
    assert "Nothing has been sent to this endpoint yet." in page
    assert "Add an endpoint" not in page


def test_card_payment_events_are_marked_while_card_payments_are_off(owner_client, settings):
    settings.STRIPE_SECRET_KEY = ""
    page = owner_client.get(reverse("dashboard:webhook_endpoint_create")).content.decode()
    assert "auto-recharge turned itself off (card payments are not set up on this deployment)" in page
    assert "fell under your alert threshold (card payments" not in page
    settings.STRIPE_SECRET_KEY = "sk_test_123"
    page = owner_client.get(reverse("dashboard:webhook_endpoint_create")).content.decode()
    assert "not set up on this deployment" not in page


def test_the_test_events_message_does_not_claim_the_receiver_checked_its_signature(org, endpoint):
    message = webhook_endpoint_send_test(endpoint=endpoint).payload["message"]
    assert "Check its signature with your endpoint's signing secret." in message
    assert "verifies" not in message
