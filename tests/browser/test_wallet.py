"""The wallet page in Chromium: a plan switch asks first (the browser's confirm dialog) and a
refused settings form puts the cursor on its first bad field."""

from __future__ import annotations

from playwright.sync_api import expect

from accounts.models import Organization
from billing.models import BillingAccount


def test_switching_to_the_free_trial_happens_only_once_the_customer_confirms(member_page, customer):
    page = member_page
    page.goto("/wallet/")
    row = page.locator("tr", has_text="Free trial")
    asked = []

    def dismiss(dialog):
        asked.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", dismiss)
    row.get_by_role("button", name="Switch").click()
    page.wait_for_timeout(300)  # a dismissed confirm sends nothing; give a stray submit time to land
    assert "lowers your limits: 10 requests a minute instead of 120" in asked[0]
    assert Organization.objects.get(pk=customer.organization.pk).plan.code == "standard"

    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Switch").click()
    expect(page.locator(".messages")).to_contain_text("You are now on the Free trial plan.")
    assert Organization.objects.get(pk=customer.organization.pk).plan.code == "free"


def test_the_country_is_picked_by_name_and_a_bad_field_takes_the_focus(member_page, customer):
    page = member_page
    page.goto("/wallet/")
    page.get_by_label("Country").select_option(label="Germany")
    page.get_by_label("Billing email").fill("accounts-at-acme")
    page.get_by_role("button", name="Save details").click()

    expect(page.locator(".messages")).to_contain_text("Billing details not saved: check Billing email below.")
    email = page.get_by_label("Billing email")
    expect(email).to_be_focused()
    expect(email).to_have_value("accounts-at-acme")
    expect(email).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Country")).to_have_value("DE")  # kept, though not saved

    email.fill("accounts@acme.test")
    page.get_by_role("button", name="Save details").click()
    expect(page.locator(".messages")).to_contain_text("Billing details saved")
    account = BillingAccount.objects.get(organization=customer.organization)
    assert (account.country, account.billing_email) == ("DE", "accounts@acme.test")
