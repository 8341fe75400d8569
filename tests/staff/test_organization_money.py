"""The staff console's organization page shows every amount as money in the wallet's currency,
never as a bare count of minor units."""

from __future__ import annotations

import uuid

import pytest
from django.urls import reverse

from billing.models import BillingAccount

pytestmark = pytest.mark.django_db


def test_spend_controls_and_auto_recharge_read_as_money(staff_client, acme):
    BillingAccount.objects.update_or_create(
        organization=acme,
        defaults={
            "monthly_spend_limit": 50,
            "low_balance_threshold": 250,
            "auto_recharge_enabled": True,
            "auto_recharge_amount": 2000,
            "auto_recharge_threshold": 500,
            "auto_recharge_monthly_cap": 6000,
        },
    )

    html = staff_client.get(reverse("staff:organization_detail", args=[acme.id])).content.decode()

    assert "Spend limit: $0.50 a month" in html
    assert "low-balance alert under $2.50" in html
    assert "auto-recharge on ($20.00 under $5.00, cap $60.00 a month, 0 failures)" in html
    assert "Spend limit: 50" not in html


def test_no_spend_limit_and_no_alert_read_as_words(staff_client, acme):
    BillingAccount.objects.get_or_create(organization=acme)

    html = staff_client.get(reverse("staff:organization_detail", args=[acme.id])).content.decode()

    assert "Spend limit: none · low-balance alert off · auto-recharge off" in html


def test_the_ledger_uses_the_wallets_currency(staff_client, acme):
    acme.wallet.currency = "EUR"
    acme.wallet.save(update_fields=["currency"])

    html = staff_client.get(reverse("staff:organization_detail", args=[acme.id])).content.decode()

    ledger = html.split("<h2>Ledger (latest 50)</h2>")[1]
    assert '<td class="num">€10.00</td>' in ledger  # the initial credit, and the balance after it
    assert "$" not in ledger


def test_a_wallet_adjustment_is_confirmed_as_money(staff_client, acme):
    response = staff_client.post(
        reverse("staff:organization_detail", args=[acme.id]),
        {"amount": "7.00", "reason": "Goodwill credit", "token": str(uuid.uuid4())},
        follow=True,
    )

    assert "Wallet adjusted by $7.00." in response.content.decode()


@pytest.mark.parametrize("amount", ["1000000", "-1000.01"])
def test_an_adjustment_past_the_limit_is_refused_and_books_nothing(staff_client, acme, amount):
    from billing.models import LedgerEntry, Wallet

    entries = LedgerEntry.objects.count()
    response = staff_client.post(
        reverse("staff:organization_detail", args=[acme.id]),
        {"amount": amount, "reason": "huge credit", "token": str(uuid.uuid4())},
    )
    assert response.status_code == 400
    assert "An adjustment is at most $1,000.00 either way" in response.content.decode()
    assert LedgerEntry.objects.count() == entries
    assert Wallet.objects.get(organization=acme).balance == 1000


def test_the_limit_is_the_operators_to_set(staff_client, acme, settings):
    settings.STAFF_ADJUSTMENT_MAX = 200_000_00
    response = staff_client.post(
        reverse("staff:organization_detail", args=[acme.id]),
        {"amount": "1500.00", "reason": "contract credit", "token": str(uuid.uuid4())},
        follow=True,
    )
    assert "Wallet adjusted by $1,500.00." in response.content.decode()


def test_support_staff_are_not_offered_the_admins_forms(support_client, acme):
    page = support_client.get(reverse("staff:organization_detail", args=[acme.id])).content.decode()
    assert "are for trust and safety admins" in page
    for admin_only in ("Adjust the wallet", "Change plan", ">Suspend</button>"):
        assert admin_only not in page, admin_only
    listing = support_client.get(reverse("staff:organizations")).content.decode()
    assert ">Suspend</button>" not in listing and "admins only" in listing
