"""Checkout sessions for top-ups (presets and a custom amount within bounds) and subscriptions,
and the customer portal. Stripe's HTTP client is replaced; no request leaves the machine."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from billing.models import BillingAccount, Payment, Wallet

pytestmark = pytest.mark.django_db

SESSION = {"id": "cs_new", "object": "checkout.session", "url": "https://checkout.stripe.com/c/pay/cs_new"}


@pytest.fixture
def browser(owner, paying_org):
    client = Client()
    client.force_login(owner)
    return client


def test_a_custom_amount_within_the_bounds_opens_checkout(browser, paying_org, stripe_on, fake_stripe):
    fake_stripe.answer("post", "/v1/checkout/sessions", SESSION)
    response = browser.post(reverse("dashboard:topup_checkout"), {"custom_amount": "12.34"})
    assert response.status_code == 302 and response["Location"] == SESSION["url"]
    [form] = fake_stripe.calls_to("/v1/checkout/sessions")
    assert form["line_items[0][price_data][unit_amount]"] == ["1234"]
    assert form["payment_intent_data[metadata][organization_id]"] == [str(paying_org.id)]
    assert form["payment_intent_data[setup_future_usage]"] == ["off_session"]
    payment = Payment.objects.get(stripe_checkout_session_id="cs_new")
    assert (payment.status, payment.amount) == ("pending", 1234)
    assert Wallet.objects.get(organization=paying_org).balance == 1000


@pytest.mark.parametrize("amount", ["4.99", "10000.01"])
def test_a_custom_amount_outside_the_bounds_is_refused_without_calling_stripe(
    browser, stripe_on, fake_stripe, amount, settings
):
    assert (settings.TOPUP_MIN_AMOUNT, settings.TOPUP_MAX_AMOUNT) == (500, 1_000_000)
    response = browser.post(reverse("dashboard:topup_checkout"), {"custom_amount": amount}, follow=True)
    assert "between 5.00 and 10000.00" in response.content.decode()
    assert fake_stripe.calls == [] and Payment.objects.count() == 0


def test_the_edges_of_the_bounds_are_accepted(browser, stripe_on, fake_stripe):
    fake_stripe.answer("post", "/v1/checkout/sessions", SESSION | {"id": "cs_a"}).answer(
        "post", "/v1/checkout/sessions", SESSION | {"id": "cs_b"}
    )
    assert browser.post(reverse("dashboard:topup_checkout"), {"custom_amount": "5.00"}).status_code == 302
    assert browser.post(reverse("dashboard:topup_checkout"), {"custom_amount": "10000"}).status_code == 302
    amounts = [form["line_items[0][price_data][unit_amount]"] for form in fake_stripe.calls_to("/v1/checkout/sessions")]
    assert amounts == [["500"], ["1000000"]]


def test_a_paid_plan_is_bought_through_a_subscription_checkout(browser, paying_org, stripe_on, fake_stripe, pro_plan):
    fake_stripe.answer("post", "/v1/customers", {"id": "cus_new", "object": "customer"})
    fake_stripe.answer("post", "/v1/checkout/sessions", SESSION)
    response = browser.post(reverse("dashboard:subscription_checkout"), {"plan": "pro"})
    assert response.status_code == 302 and response["Location"] == SESSION["url"]
    [form] = fake_stripe.calls_to("/v1/checkout/sessions")
    assert form["mode"] == ["subscription"] and form["line_items[0][price]"] == ["price_pro"]
    assert form["customer"] == ["cus_new"]
    assert form["subscription_data[metadata][organization_id]"] == [str(paying_org.id)]
    assert BillingAccount.objects.get(organization=paying_org).stripe_customer_id == "cus_new"
    paying_org.refresh_from_db()
    assert paying_org.plan.code == "standard"  # only the subscription events move it


def test_a_plan_without_a_stripe_price_cannot_be_bought(browser, stripe_on, fake_stripe):
    response = browser.post(reverse("dashboard:subscription_checkout"), {"plan": "pro"}, follow=True)
    assert "cannot be bought by card" in response.content.decode()
    assert fake_stripe.calls == []


def test_the_portal_opens_for_a_customer_with_a_stripe_account(browser, paying_org, stripe_on, fake_stripe):
    assert "no card" in browser.post(reverse("dashboard:billing_portal"), follow=True).content.decode()
    BillingAccount.objects.update_or_create(organization=paying_org, defaults={"stripe_customer_id": "cus_1"})
    fake_stripe.answer("post", "/v1/billing_portal/sessions", {"id": "bps_1", "url": "https://billing.stripe.com/p/1"})
    response = browser.post(reverse("dashboard:billing_portal"))
    assert response["Location"] == "https://billing.stripe.com/p/1"


def test_without_stripe_keys_payment_pages_are_404_and_the_wallet_still_works(browser, settings):
    settings.STRIPE_SECRET_KEY = ""
    for name in ("topup_checkout", "subscription_checkout", "billing_portal"):
        assert browser.post(reverse(f"dashboard:{name}"), {"plan": "pro"}).status_code == 404
    assert browser.get(reverse("dashboard:wallet")).status_code == 200
