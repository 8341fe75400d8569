"""A stranger signs up in Chromium, verifies the address from the mail (Django's test outbox),
and lands in their organization's dashboard."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from billing.models import LedgerEntry, Wallet
from billing.money import format_money

PASSWORD = "a-long-enough-passphrase-42"


def test_a_stranger_signs_up_verifies_the_email_and_reaches_the_dashboard(page, live_server, mailoutbox):
    page.goto("/accounts/signup/")
    page.get_by_label("Email").fill("newbie@example.com")
    page.get_by_label("Organization (optional)").fill("Newbie Studio")
    page.locator("input[name=password1]").fill(PASSWORD)
    page.locator("input[name=password2]").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()

    expect(page.get_by_role("heading", level=1)).to_be_visible()
    assert "/accounts/confirm-email/" in page.url
    (message,) = mailoutbox
    assert message.to == ["newbie@example.com"]
    link = re.search(r"https?://[^/\s]+(/accounts/confirm-email/\S+)", message.body).group(1)

    page.goto(link)
    page.get_by_role("button", name=re.compile("Confirm", re.I)).click()

    page.goto("/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Newbie Studio")
    wallet = Wallet.objects.get(organization__name="Newbie Studio")
    # Verifying the address granted the plan's trial credit, through the ledger.
    trial = LedgerEntry.objects.get(organization=wallet.organization, kind=LedgerEntry.Kind.TRIAL)
    assert trial.amount == wallet.organization.plan.trial_credit > 0 and wallet.available == trial.amount
    expect(page.locator(".stat").filter(has_text="Available")).to_contain_text(format_money(wallet.available))
