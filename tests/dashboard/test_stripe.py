"""Stripe Checkout top-ups. Stripe's servers are replaced at the HTTP boundary (stripe's own
HTTPClient hook); webhooks carry a real signature computed with Stripe's scheme."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from urllib.parse import parse_qs

import pytest
import stripe
from django.urls import reverse

from billing.models import LedgerEntry, Wallet

pytestmark = pytest.mark.django_db

WEBHOOK_SECRET = "whsec_test_dashboard_secret"


class RecordingStripeClient(stripe.HTTPClient):
    """Answers Stripe API calls locally and remembers what was sent."""

    name = "recording"

    def __init__(self, answer: dict, status: int = 200):
        super().__init__()
        self.answer = answer
        self.status = status
        self.calls: list[tuple[str, str, dict]] = []

    def request(self, method, url, headers, post_data=None, *, _usage=None):
        form = parse_qs(post_data.decode() if isinstance(post_data, bytes) else (post_data or ""))
        self.calls.append((method, url, form))
        return json.dumps(self.answer), self.status, {"request-id": "req_test"}


@pytest.fixture
def stripe_on(settings):
    settings.STRIPE_SECRET_KEY = "sk_test_dashboard"
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET


@pytest.fixture
def stripe_http(monkeypatch):
    def install(answer: dict, status: int = 200) -> RecordingStripeClient:
        client = RecordingStripeClient(answer, status)
        monkeypatch.setattr(stripe, "default_http_client", client)
        return client

    return install


def signed(payload: str, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    timestamp = int(time.time()) if timestamp is None else timestamp
    signature = hmac.new(secret.encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={signature}"


def checkout_event(
    org, *, event_id="evt_1", amount=2500, payment_status="paid", kind="checkout.session.completed"
) -> str:
    return json.dumps(
        {
            "id": event_id,
            "object": "event",
            "type": kind,
            "data": {
                "object": {
                    "id": "cs_test_1",
                    "object": "checkout.session",
                    "amount_total": amount,
                    "currency": "usd",
                    "payment_status": payment_status,
                    "client_reference_id": str(org.id),
                    "metadata": {"organization_id": str(org.id), "amount": str(amount)},
                }
            },
        }
    )


def post_webhook(client, payload: str, signature: str):
    return client.post(
        reverse("dashboard:stripe_webhook"),
        data=payload,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=signature,
    )


def test_top_up_sends_the_owner_to_a_checkout_session_for_their_organization(owner_client, org, stripe_on, stripe_http):
    fake = stripe_http(
        {"id": "cs_test_1", "object": "checkout.session", "url": "https://checkout.stripe.com/c/pay/cs_test_1"}
    )
    response = owner_client.post(reverse("dashboard:topup_checkout"), {"amount": "5000"})
    assert response.status_code == 302
    assert response["Location"] == "https://checkout.stripe.com/c/pay/cs_test_1"
    [(method, url, form)] = fake.calls
    assert method == "post" and url.endswith("/v1/checkout/sessions")
    assert form["metadata[organization_id]"] == [str(org.id)]
    assert form["line_items[0][price_data][unit_amount]"] == ["5000"]
    assert form["line_items[0][price_data][currency]"] == ["usd"]
    assert form["mode"] == ["payment"]
    # Nothing is credited until Stripe's signed webhook says the money arrived.
    assert Wallet.objects.get(organization=org).balance == 1000


def test_an_amount_outside_the_offered_choices_is_refused(owner_client, stripe_on, stripe_http):
    fake = stripe_http({"id": "cs_x", "object": "checkout.session", "url": "https://checkout.stripe.com/x"})
    response = owner_client.post(reverse("dashboard:topup_checkout"), {"amount": "1"})
    assert response.status_code == 302 and response["Location"] == reverse("dashboard:wallet")
    assert fake.calls == []


def test_a_stripe_outage_is_a_message_not_a_crash(owner_client, stripe_on, stripe_http):
    stripe_http({"error": {"message": "boom", "type": "api_error"}}, status=500)
    response = owner_client.post(reverse("dashboard:topup_checkout"), {"amount": "2500"}, follow=True)
    assert "could not be reached" in response.content.decode()


def test_a_member_cannot_start_a_top_up(teammate_client, stripe_on, stripe_http):
    fake = stripe_http({"id": "cs_x", "object": "checkout.session", "url": "https://checkout.stripe.com/x"})
    assert teammate_client.post(reverse("dashboard:topup_checkout"), {"amount": "2500"}).status_code == 403
    assert fake.calls == []


def test_top_up_is_off_without_a_stripe_key(owner_client, settings):
    settings.STRIPE_SECRET_KEY = ""
    assert owner_client.post(reverse("dashboard:topup_checkout"), {"amount": "2500"}).status_code == 404


def test_the_wallet_page_offers_card_top_ups_when_stripe_is_configured(owner_client, stripe_on):
    body = owner_client.get(reverse("dashboard:wallet")).content.decode()
    assert "Pay with card" in body and "contact sales" not in body


def test_a_signed_webhook_credits_the_wallet_exactly_once_even_when_delivered_twice(client, org, stripe_on):
    payload = checkout_event(org, event_id="evt_paid_1", amount=2500)
    first = post_webhook(client, payload, signed(payload))
    second = post_webhook(client, payload, signed(payload))
    assert first.status_code == 200 and second.status_code == 200
    entries = LedgerEntry.objects.filter(organization=org, idempotency_key="stripe:checkout:cs_test_1")
    assert [(e.kind, e.amount) for e in entries] == [(LedgerEntry.Kind.TOPUP, 2500)]
    assert Wallet.objects.get(organization=org).balance == 1000 + 2500


def test_a_webhook_with_a_bad_signature_credits_nothing(client, org, stripe_on):
    payload = checkout_event(org, event_id="evt_forged")
    response = post_webhook(client, payload, signed(payload, secret="whsec_someone_else"))
    assert response.status_code == 400
    tampered = post_webhook(client, payload.replace("2500", "999999"), signed(payload))
    assert tampered.status_code == 400
    assert Wallet.objects.get(organization=org).balance == 1000
    assert not LedgerEntry.objects.filter(idempotency_key__startswith="stripe:").exists()


def test_a_stale_signature_is_refused(client, org, stripe_on):
    payload = checkout_event(org, event_id="evt_old")
    response = post_webhook(client, payload, signed(payload, timestamp=int(time.time()) - 3600))
    assert response.status_code == 400
    assert Wallet.objects.get(organization=org).balance == 1000


def test_an_unpaid_session_credits_nothing_until_the_async_payment_succeeds(client, org, stripe_on):
    pending = checkout_event(org, event_id="evt_pending", payment_status="unpaid")
    assert post_webhook(client, pending, signed(pending)).status_code == 200
    assert Wallet.objects.get(organization=org).balance == 1000
    paid = checkout_event(org, event_id="evt_async_ok", kind="checkout.session.async_payment_succeeded")
    assert post_webhook(client, paid, signed(paid)).status_code == 200
    assert Wallet.objects.get(organization=org).balance == 3500


def test_other_event_types_are_acknowledged_and_ignored(client, org, stripe_on):
    payload = json.dumps(
        {
            "id": "evt_other",
            "object": "event",
            "type": "customer.created",
            "data": {"object": {"id": "cus_1", "object": "customer"}},
        }
    )
    assert post_webhook(client, payload, signed(payload)).status_code == 200
    assert Wallet.objects.get(organization=org).balance == 1000
