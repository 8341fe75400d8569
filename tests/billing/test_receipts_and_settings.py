"""Receipts (page and our own PDF) and the wallet page's billing settings."""

from __future__ import annotations

import io

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from billing.models import BillingAccount, KeySpendLimit, Payment
from billing.services import wallet_topup
from tests.accounts.factories import OrganizationFactory, UserFactory, make_key

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser(owner, paying_org):
    client = Client()
    client.force_login(owner)
    return client


@pytest.fixture
def paid(paying_org):
    entry = wallet_topup(organization=paying_org, amount=2500, idempotency_key="stripe:checkout:cs_r")
    return Payment.objects.create(
        organization=paying_org,
        kind="topup",
        status="succeeded",
        amount=2500,
        credit=2500,
        currency="USD",
        ledger_entry=entry,
        stripe_checkout_session_id="cs_r",
        stripe_payment_intent_id="pi_r",
        receipt_url="https://pay.stripe.com/receipts/r",
        description="Wallet top-up",
        paid_at=timezone.now(),
    )


def _details(org):
    BillingAccount.objects.update_or_create(
        organization=org,
        defaults={
            "billing_name": "Paying Co GmbH",
            "address_line1": "Hauptstr. 1",
            "postal_code": "10115",
            "city": "Berlin",
            "country": "DE",
            "tax_id": "DE123456789",
        },
    )


def test_the_receipt_page_shows_details_amounts_ledger_reference_and_stripes_link(browser, paying_org, paid):
    _details(paying_org)
    page = browser.get(reverse("dashboard:receipt", args=[paid.id])).content.decode()
    for text in (
        "Paying Co GmbH",
        "Hauptstr. 1",
        "10115 Berlin",
        "DE123456789",
        "$25.00",
        "stripe:checkout:cs_r",
        "https://pay.stripe.com/receipts/r",
        paid.number,
    ):
        assert text in page
    assert paid.number in browser.get(reverse("dashboard:wallet")).content.decode()


def test_the_pdf_receipt_is_a_real_pdf_with_the_same_totals(browser, paying_org, paid):
    from pypdf import PdfReader

    _details(paying_org)
    response = browser.get(reverse("dashboard:receipt_pdf", args=[paid.id]))
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF-")
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(response.content)).pages)
    assert "Paying Co GmbH" in text and "DE123456789" in text
    assert text.count("$25.00") == 3  # line, total paid, credit added
    assert "stripe:checkout:cs_r" in text


def test_an_unpaid_payment_has_no_receipt_and_another_tenant_gets_404(browser, paying_org, paid):
    pending = Payment.objects.create(organization=paying_org, kind="topup", amount=100)
    assert browser.get(reverse("dashboard:receipt", args=[pending.id])).status_code == 404
    outsider = UserFactory(username="receipt-outsider")
    OrganizationFactory(owner=outsider)
    other = Client()
    other.force_login(outsider)
    assert other.get(reverse("dashboard:receipt", args=[paid.id])).status_code == 404
    assert other.get(reverse("dashboard:receipt_pdf", args=[paid.id])).status_code == 404


def test_owners_edit_billing_details_and_spend_controls(browser, paying_org):
    response = browser.post(
        reverse("dashboard:billing_details"),
        {"billing_name": "New Name Ltd", "country": "gb", "tax_id": "GB1", "billing_email": "ap@paying.test"},
    )
    assert response.status_code == 302
    account = BillingAccount.objects.get(organization=paying_org)
    assert (account.billing_name, account.country, account.tax_id) == ("New Name Ltd", "GB", "GB1")
    browser.post(
        reverse("dashboard:spend_controls"),
        {"monthly_spend_limit": "50", "spend_alert_percents": "100, 50", "low_balance_threshold": "3.00"},
    )
    account.refresh_from_db()
    assert (account.monthly_spend_limit, account.spend_alert_percents, account.low_balance_threshold) == (
        5000,
        "50,100",
        300,
    )
    browser.post(reverse("dashboard:spend_controls"), {"monthly_spend_limit": "", "spend_alert_percents": "80"})
    account.refresh_from_db()
    assert account.monthly_spend_limit is None and account.low_balance_threshold is None


def test_amounts_are_typed_and_shown_in_dollars_not_minor_units(browser, paying_org):
    """The customer types 12.50 (dollars), the services get 1250 (cents), the page shows 12.50."""
    subscription, _ = make_key(paying_org, name="ci")
    browser.post(
        reverse("dashboard:spend_controls"),
        {"monthly_spend_limit": "12.50", "spend_alert_percents": "80", "low_balance_threshold": "0.05"},
    )
    browser.post(reverse("dashboard:key_spend_limit"), {"subscription": subscription.id, "monthly_limit": "7.5"})
    account = BillingAccount.objects.get(organization=paying_org)
    assert (account.monthly_spend_limit, account.low_balance_threshold) == (1250, 5)
    assert KeySpendLimit.objects.get(subscription=subscription).monthly_limit == 750
    body = browser.get(reverse("dashboard:wallet")).content.decode()
    assert 'name="monthly_spend_limit" value="12.50"' in body
    assert 'name="low_balance_threshold" value="0.05"' in body
    assert 'name="monthly_limit" value="7.50"' in body
    assert "minor units" not in body


def test_bad_settings_are_refused_and_change_nothing(browser, paying_org):
    browser.post(reverse("dashboard:spend_controls"), {"monthly_spend_limit": "-5"})
    browser.post(reverse("dashboard:spend_controls"), {"monthly_spend_limit": "1.234"})
    browser.post(reverse("dashboard:spend_controls"), {"webhook_url": "http://127.0.0.1/hook"})
    assert BillingAccount.objects.filter(organization=paying_org, monthly_spend_limit__isnull=False).count() == 0
    assert not BillingAccount.objects.filter(organization=paying_org).exclude(webhook_url="").exists()


def test_a_member_cannot_change_billing_settings(paying_org):
    from accounts.services import membership_add

    member = UserFactory(username="billing-member")
    membership_add(organization=paying_org, user=member, role="member")
    client = Client()
    client.force_login(member)
    assert client.post(reverse("dashboard:spend_controls"), {"monthly_spend_limit": "1"}).status_code == 403


def test_auto_recharge_needs_a_saved_card_and_switching_on_resets_failures(browser, paying_org, stripe_on):
    form = {"enabled": "on", "threshold": "5", "amount": "20.00", "monthly_cap": "60"}
    response = browser.post(reverse("dashboard:auto_recharge"), form, follow=True)
    assert "Top up once by card first" in response.content.decode()
    BillingAccount.objects.filter(organization=paying_org).update(
        stripe_customer_id="cus_1", auto_recharge_payment_method="pm_1", auto_recharge_failures=3
    )
    browser.post(reverse("dashboard:auto_recharge"), form)
    account = BillingAccount.objects.get(organization=paying_org)
    assert account.auto_recharge_enabled and account.auto_recharge_failures == 0
    assert (account.auto_recharge_threshold, account.auto_recharge_amount, account.auto_recharge_monthly_cap) == (
        500,
        2000,
        6000,
    )


def test_a_key_sets_limit_is_set_and_removed_and_another_tenants_key_is_404(browser, paying_org):
    subscription, _ = make_key(paying_org, name="ci")
    browser.post(reverse("dashboard:key_spend_limit"), {"subscription": subscription.id, "monthly_limit": "7"})
    assert KeySpendLimit.objects.get(subscription=subscription).monthly_limit == 700  # $7
    browser.post(reverse("dashboard:key_spend_limit"), {"subscription": subscription.id, "monthly_limit": ""})
    assert not KeySpendLimit.objects.exists()
    other_sub, _ = make_key(OrganizationFactory(), name="theirs")
    response = browser.post(reverse("dashboard:key_spend_limit"), {"subscription": other_sub.id, "monthly_limit": "1"})
    assert response.status_code == 404 and not KeySpendLimit.objects.exists()
