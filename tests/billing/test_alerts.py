"""Low-balance and spend-limit alerts: once per crossing, by email and as a signed billing.*
event to the organization's billing webhook URL."""

from __future__ import annotations

import ipaddress
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from standardwebhooks import Webhook

from billing.alerts import alerts_check
from billing.models import BillingAccount, BillingAlert
from billing.notify import billing_event_deliver
from billing.services import wallet_adjust, wallet_topup
from jobs.services import job_submit
from tests.jobs.conftest import PLAIN, image_input

pytestmark = pytest.mark.django_db


def submit(org, count=1):
    return job_submit(organization=org, params=PLAIN, images=[image_input() for _ in range(count)], source="gateway")


def test_a_low_balance_alert_goes_once_per_crossing(paying_org, mailoutbox, django_capture_on_commit_callbacks):
    BillingAccount.objects.create(organization=paying_org, low_balance_threshold=995)
    with django_capture_on_commit_callbacks(execute=True):
        alerts_check(organization_id=paying_org.id)  # 1000: not under
        submit(paying_org)  # 990
        alerts_check(organization_id=paying_org.id)
        submit(paying_org)  # 980: still the same crossing
        alerts_check(organization_id=paying_org.id)
    assert [m.subject for m in mailoutbox] == ["[CodeFormer Cloud] Low balance"]
    assert "Your available balance is $9.90, under your alert threshold of $9.95." in mailoutbox[0].body
    assert "minor units" not in mailoutbox[0].body
    # Which organization, and where to act on it.
    assert f"Organization: {paying_org.name}" in mailoutbox[0].body and "/wallet/" in mailoutbox[0].body
    with django_capture_on_commit_callbacks(execute=True):
        wallet_topup(organization=paying_org, amount=100, idempotency_key="back-up")
        alerts_check(organization_id=paying_org.id)  # 1080 available: re-armed
        wallet_adjust(organization=paying_org, amount=-100, idempotency_key="down", description="test")
        alerts_check(organization_id=paying_org.id)  # 980 again: a new crossing
    assert [m.subject for m in mailoutbox] == ["[CodeFormer Cloud] Low balance"] * 2
    assert BillingAlert.objects.filter(organization=paying_org, kind="low_balance").count() == 2


def test_spend_limit_alerts_go_once_at_each_threshold(paying_org, mailoutbox, django_capture_on_commit_callbacks):
    BillingAccount.objects.create(organization=paying_org, monthly_spend_limit=50, spend_alert_percents="80, 100")
    with django_capture_on_commit_callbacks(execute=True):
        submit(paying_org, count=3)  # 30 = 60 %
        assert alerts_check(organization_id=paying_org.id) == []
        submit(paying_org)  # 40 = 80 %
        assert len(alerts_check(organization_id=paying_org.id)) == 1
        assert alerts_check(organization_id=paying_org.id) == []
        submit(paying_org)  # 50 = 100 %
        assert len(alerts_check(organization_id=paying_org.id)) == 1
        assert alerts_check(organization_id=paying_org.id) == []
    assert [m.subject for m in mailoutbox] == [
        "[CodeFormer Cloud] 80% of your monthly spend limit",
        "[CodeFormer Cloud] 100% of your monthly spend limit",
    ]
    assert "This month's spend is $0.40, 80% or more of your monthly spend limit of $0.50." in mailoutbox[0].body


def test_raising_the_limit_re_arms_the_alerts(paying_org):
    account = BillingAccount.objects.create(organization=paying_org, monthly_spend_limit=10, spend_alert_percents="100")
    submit(paying_org)
    assert len(alerts_check(organization_id=paying_org.id)) == 1
    account.monthly_spend_limit = 20
    account.save()
    submit(paying_org)
    assert len(alerts_check(organization_id=paying_org.id)) == 1


class _Receiver(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((dict(self.headers), body.decode()))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver(settings):
    handler = type("Receiver", (_Receiver,), {"received": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings.OUTBOUND_ALLOWED_NETWORKS = [ipaddress.ip_network("127.0.0.1/32")]
    yield f"http://127.0.0.1:{server.server_address[1]}/billing", handler.received
    server.shutdown()
    server.server_close()


def test_alerts_go_to_the_billing_webhook_signed_with_the_organizations_secret(
    paying_org, receiver, monkeypatch, django_capture_on_commit_callbacks
):
    from billing import actors

    url, received = receiver
    BillingAccount.objects.create(organization=paying_org, low_balance_threshold=995, webhook_url=url)
    # The actor's body, run inline: what a billing worker does with the message.
    monkeypatch.setattr(
        actors.deliver_billing_event,
        "send",
        lambda org_id, to, body: billing_event_deliver(organization_id=org_id, url=to, body=body),
    )
    submit(paying_org)
    with django_capture_on_commit_callbacks(execute=True):
        alerts_check(organization_id=paying_org.id)
    [(headers, body)] = received
    event = json.loads(body)
    assert event["type"] == "billing.balance_low" and event["data"] == {"available": 990, "threshold": 995}
    lowered = {k.lower(): v for k, v in headers.items()}
    Webhook(paying_org.webhook_secret).verify(body, lowered)


def test_a_receiver_error_raises_so_the_actor_retries(paying_org, settings):
    settings.OUTBOUND_ALLOWED_NETWORKS = []
    with pytest.raises(Exception):  # noqa: B017 - a private address is refused before any request
        billing_event_deliver(organization_id=paying_org.id, url="http://127.0.0.1:9/x", body='{"id": "evt_1"}')


@pytest.mark.django_db(transaction=True)
def test_a_submission_reaches_the_alert_through_the_real_broker_and_worker(mailoutbox, settings):
    """job_submit's commit hook -> the billing actor on the Redis broker -> the alert email."""
    import time

    import dramatiq
    from django.db import connection

    import billing.actors  # noqa: F401 - declares the billing queue before the worker starts
    from tests.accounts.factories import OrganizationFactory, UserFactory

    settings.RESTORATION_ENGINE = "tests.jobs.engines.FakeEngine"
    owner = UserFactory(username="alert-owner", email="alerts@acme.test")
    org = OrganizationFactory(name="Alerted", owner=owner, initial_credit=1000)
    BillingAccount.objects.create(organization=org, low_balance_threshold=995)
    broker = dramatiq.get_broker()
    broker.flush_all()
    worker = dramatiq.Worker(broker, queues={"billing"}, worker_timeout=100, worker_threads=1)
    worker.start()
    try:
        submit(org)  # commits: 990 available < 995
        deadline = time.monotonic() + 30
        while not mailoutbox and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        worker.stop()
        broker.flush_all()
        connection.close()
    assert [m.subject for m in mailoutbox] == ["[CodeFormer Cloud] Low balance"]
    assert mailoutbox[0].to == ["alerts@acme.test"]
