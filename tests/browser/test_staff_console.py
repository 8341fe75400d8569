"""The staff console in Chromium: a wallet adjustment asks first, naming the amount and the
balance it leads to, so a typo shows before it is booked."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from billing.models import Wallet
from moderation.models import StaffMember
from tests.accounts.factories import UserFactory
from tests.browser.conftest import sign_in


@pytest.fixture
def staff_page(new_context, live_server, customer, settings):
    settings.STAFF_REQUIRE_2FA = False
    staff = UserFactory(username="stella", email="stella@codeformer.test", is_staff=True)
    StaffMember.objects.create(user=staff, role=StaffMember.Role.ADMIN)
    context = new_context()
    sign_in(context, staff, live_server)
    return context.new_page()


def test_a_wallet_adjustment_is_confirmed_with_its_amount_and_the_new_balance(staff_page, customer):
    page = staff_page
    page.goto(f"/staff/organizations/{customer.organization.id}/")
    page.get_by_label("Amount ($)").fill("1000.00")
    page.get_by_label("Reason").first.fill("Goodwill")
    asked = []

    def dismiss(dialog):
        asked.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", dismiss)
    page.get_by_role("button", name="Adjust").click()
    page.wait_for_timeout(300)  # a dismissed confirm sends nothing
    assert asked == [
        "Credit $1,000.00 to the wallet of Acme Photos? The balance goes from $10.00 to $1,010.00 at once, "
        "and the entry stays in the ledger."
    ]
    assert Wallet.objects.get(organization=customer.organization).balance == 1000

    page.get_by_label("Amount ($)").fill("-2.50")
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.accept()))
    page.get_by_role("button", name="Adjust").click()
    expect(page.locator(".messages")).to_contain_text("Wallet adjusted by -$2.50.")
    assert "Debit $2.50 from the wallet of Acme Photos? The balance goes from $10.00 to $7.50" in asked[-1]
    assert Wallet.objects.get(organization=customer.organization).balance == 750


def test_suspending_asks_why_and_a_dismissed_question_changes_nothing(staff_page, customer):
    from accounts.models import Organization

    page = staff_page
    page.goto(f"/staff/organizations/{customer.organization.id}/")
    asked = []

    def dismiss(dialog):
        asked.append((dialog.type, dialog.message))
        dialog.dismiss()

    page.once("dialog", dismiss)
    page.get_by_role("button", name="Suspend").click()
    page.wait_for_timeout(300)
    assert asked == [
        ("prompt", "Suspend Acme Photos? Its API keys answer 403 immediately. Why (kept in the audit trail)?")
    ]
    assert Organization.objects.get(pk=customer.organization.pk).status == Organization.Status.ACTIVE

    page.once("dialog", lambda dialog: dialog.accept("Chargeback fraud"))
    page.get_by_role("button", name="Suspend").click()
    expect(page.locator(".messages")).to_contain_text("Acme Photos is now suspended.")
    assert Organization.objects.get(pk=customer.organization.pk).status == Organization.Status.SUSPENDED
    page.goto("/staff/audit/")
    expect(page.locator("table")).to_contain_text("why: Chargeback fraud")
