"""The admin shows money but never edits the ledger; balances move only through services."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.test import RequestFactory

from billing.models import LedgerEntry, Wallet
from tests.accounts.factories import OrganizationFactory, UserFactory


@pytest.fixture
def staff(db):
    return UserFactory(username="staff", is_staff=True, is_superuser=True)


@pytest.fixture
def acme(db):
    return OrganizationFactory(slug="acme", initial_credit=100)


def test_the_ledger_cannot_be_added_changed_or_deleted_even_by_a_superuser(staff, acme):
    request = RequestFactory().get("/")
    request.user = staff
    ledger_admin = admin.site._registry[LedgerEntry]
    entry = LedgerEntry.objects.get(organization=acme)
    assert not ledger_admin.has_add_permission(request)
    assert not ledger_admin.has_change_permission(request, entry)
    assert not ledger_admin.has_delete_permission(request, entry)
    assert ledger_admin.has_view_permission(request, entry)


def test_wallet_balance_fields_are_read_only(staff, acme):
    request = RequestFactory().get("/")
    request.user = staff
    wallet_admin = admin.site._registry[Wallet]
    assert {"balance", "held"} <= set(wallet_admin.get_readonly_fields(request, acme.wallet))
    assert not wallet_admin.has_add_permission(request)
    assert not wallet_admin.has_delete_permission(request, acme.wallet)


def test_the_admin_pages_render_for_staff(client, staff, acme):
    client.force_login(staff)
    for url in [
        "/admin/billing/ledgerentry/",
        f"/admin/billing/ledgerentry/{LedgerEntry.objects.get(organization=acme).pk}/change/",
        "/admin/billing/wallet/",
        f"/admin/billing/wallet/{acme.wallet.pk}/change/",
        "/admin/accounts/organization/",
        f"/admin/accounts/organization/{acme.pk}/change/",
        "/admin/accounts/subscription/",
        "/admin/accounts/apikey/",
    ]:
        assert client.get(url).status_code == 200, url


def test_the_top_up_action_goes_through_the_service_and_a_double_submit_tops_up_once(client, staff, acme):
    client.force_login(staff)
    url = "/admin/billing/wallet/"
    form_page = client.post(url, {"action": "top_up", "_selected_action": [acme.wallet.pk]})
    assert form_page.status_code == 200
    key = form_page.context["form"].initial["idempotency_key"]
    submit = {
        "action": "top_up",
        "_selected_action": [acme.wallet.pk],
        "apply": "1",
        "amount": "250",
        "description": "wire",
        "idempotency_key": key,
    }
    client.post(url, submit)
    client.post(url, submit)
    acme.wallet.refresh_from_db()
    assert acme.wallet.balance == 350
    entry = LedgerEntry.objects.get(idempotency_key=key)
    assert (entry.kind, entry.amount, entry.created_by) == ("topup", 250, staff)


def test_organization_admin_actions_suspend_and_issue_a_key_shown_once(client, staff, acme):
    from accounts.keys import KEY_PATTERN, authenticate_key

    client.force_login(staff)
    response = client.post(
        "/admin/accounts/organization/", {"action": "issue_key_set", "_selected_action": [acme.pk]}, follow=True
    )
    shown = [
        w
        for m in response.context["messages"]
        for w in str(m).replace("<", " ").replace(">", " ").split()
        if KEY_PATTERN.match(w)
    ]
    assert len(shown) == 2
    assert authenticate_key(shown[0]).organization == acme

    client.post("/admin/accounts/organization/", {"action": "suspend", "_selected_action": [acme.pk]})
    acme.refresh_from_db()
    assert acme.status == "suspended"
