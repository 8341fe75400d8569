"""Stripe at its boundaries: events built and signed here with Stripe's scheme (HMAC-SHA256 of
"<timestamp>.<payload>" under the endpoint secret), and a stand-in for stripe's HTTP client."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
from urllib.parse import parse_qs

import stripe
from django.urls import reverse

WEBHOOK_SECRET = "whsec_test_billing_secret"
_ids = itertools.count(1)


def signature_for(payload: str, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    timestamp = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def event(kind: str, obj: dict, *, event_id: str | None = None, created: int | None = None) -> dict:
    return {
        "id": event_id or f"evt_{next(_ids)}_{int(time.time() * 1000)}",
        "object": "event",
        "type": kind,
        "created": created if created is not None else int(time.time()),
        "livemode": False,
        "data": {"object": obj},
    }


def deliver(client, payload: dict | str, *, secret: str = WEBHOOK_SECRET):
    body = payload if isinstance(payload, str) else json.dumps(payload)
    return client.post(
        reverse("dashboard:stripe_webhook"),
        data=body,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=signature_for(body, secret),
    )


def checkout_session(org, *, session_id="cs_1", amount=2500, payment_status="paid", pi="pi_1", mode="payment"):
    return {
        "id": session_id,
        "object": "checkout.session",
        "mode": mode,
        "amount_total": amount,
        "currency": "usd",
        "payment_status": payment_status,
        "payment_intent": pi,
        "customer": "cus_1",
        "client_reference_id": str(org.id),
        "metadata": {"organization_id": str(org.id), "kind": "topup"},
    }


def charge(org=None, *, charge_id="ch_1", pi="pi_1", amount=2500, refunded=0, receipt="https://pay.stripe.com/r/1"):
    return {
        "id": charge_id,
        "object": "charge",
        "amount": amount,
        "amount_refunded": refunded,
        "currency": "usd",
        "payment_intent": pi,
        "receipt_url": receipt,
        "metadata": {"organization_id": str(org.id)} if org is not None else {},
    }


def dispute(*, dispute_id="dp_1", charge_id="ch_1", pi="pi_1", amount=2500, status="needs_response"):
    return {
        "id": dispute_id,
        "object": "dispute",
        "amount": amount,
        "charge": charge_id,
        "payment_intent": pi,
        "currency": "usd",
        "status": status,
    }


def subscription(org, *, price="price_pro", status="active", sub_id="sub_1"):
    return {
        "id": sub_id,
        "object": "subscription",
        "customer": "cus_1",
        "status": status,
        "metadata": {"organization_id": str(org.id), "plan": "pro"},
        "items": {"data": [{"price": {"id": price}}]},
    }


def invoice(org=None, *, invoice_id="in_1", amount=4900, price="price_pro", customer="cus_1"):
    metadata = {"organization_id": str(org.id), "plan": "pro"} if org is not None else {}
    return {
        "id": invoice_id,
        "object": "invoice",
        "number": "INV-0001",
        "customer": customer,
        "currency": "usd",
        "amount_paid": amount,
        "amount_due": amount,
        "hosted_invoice_url": f"https://invoice.stripe.com/i/{invoice_id}",
        "parent": {"subscription_details": {"metadata": metadata, "subscription": "sub_1"}},
        "lines": {"data": [{"price": {"id": price}, "amount": amount}]},
    }


class FakeStripe(stripe.HTTPClient):
    """Answers Stripe API calls from a table of (method, path suffix) -> (status, body)."""

    name = "fake"

    def __init__(self):
        super().__init__()
        self.routes: dict[tuple[str, str], list[tuple[int, dict]]] = {}
        self.calls: list[tuple[str, str, dict]] = []

    def answer(self, method: str, path: str, body: dict, status: int = 200) -> FakeStripe:
        self.routes.setdefault((method, path), []).append((status, body))
        return self

    def request(self, method, url, headers, post_data=None, *, _usage=None):
        form = parse_qs(post_data.decode() if isinstance(post_data, bytes) else (post_data or ""))
        self.calls.append((method, url, form))
        for (route_method, path), answers in self.routes.items():
            if route_method == method and url.split("?")[0].endswith(path):
                status, body = answers[0] if len(answers) == 1 else answers.pop(0)
                return json.dumps(body), status, {"request-id": "req_fake"}
        return json.dumps({"error": {"type": "invalid_request_error", "message": f"no fake for {url}"}}), 404, {}

    def calls_to(self, path: str) -> list[dict]:
        return [form for _, url, form in self.calls if url.split("?")[0].endswith(path)]
