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

    # An empty answer changes nothing either, and says why instead of looking ignored.
    def answer_empty(dialog):
        asked.append((dialog.type, dialog.message))
        dialog.accept("  ") if dialog.type == "prompt" else dialog.dismiss()

    page.on("dialog", answer_empty)
    page.get_by_role("button", name="Suspend").click()
    page.wait_for_timeout(300)
    page.remove_listener("dialog", answer_empty)
    assert asked[-1] == ("alert", "Nothing was changed: a reason is required, and it is kept in the audit trail.")
    assert Organization.objects.get(pk=customer.organization.pk).status == Organization.Status.ACTIVE

    page.once("dialog", lambda dialog: dialog.accept("Chargeback fraud"))
    page.get_by_role("button", name="Suspend").click()
    expect(page.locator(".messages")).to_contain_text("Acme Photos is now suspended.")
    assert Organization.objects.get(pk=customer.organization.pk).status == Organization.Status.SUSPENDED
    page.goto("/staff/audit/")
    expect(page.locator("table")).to_contain_text("why: Chargeback fraud")


# Tables a reader must see whole at 1280 px: no column pushed behind a sideways scroll.
TABLES_FIT_JS = """
() => [...document.querySelectorAll("main .table-wrap")]
  .filter((wrap) => wrap.scrollWidth > wrap.clientWidth + 1)
  .map((wrap) => `${wrap.closest(".card")?.querySelector("h2")?.textContent || "table"}: ${wrap.scrollWidth} > ${wrap.clientWidth}`)
"""


@pytest.fixture
def staff_data(customer, settings):
    """The dashboard's jobs, a moderation item on the failed one (a PDQ hash, a reason), a staff
    adjustment and a suspension with its reason: audit entries with long values."""
    from accounts.services import organization_set_status
    from billing.services import wallet_adjust
    from moderation import services as moderation
    from tests.browser.pages import dashboard_with_data

    filled = dashboard_with_data(customer.organization, settings)
    admin = UserFactory(username="alex", email="alex.administrator.of.trust.and.safety@codeformer.test", is_staff=True)
    StaffMember.objects.create(user=admin, role=StaffMember.Role.ADMIN)
    item = moderation.job_flag(job=filled.completed, actor=admin, reason="Reported by a customer: " + "x" * 200)
    item.pdq_hash = "f" * 64
    item.save(update_fields=["pdq_hash"])
    wallet_adjust(
        organization=customer.organization,
        amount=250,
        idempotency_key="layout:adjust",
        description="Goodwill credit after the outage of the east-coast cluster on the first of the month",
        created_by=admin,
    )
    organization_set_status(
        organization=customer.organization, status="suspended", actor=admin, reason="Chargeback fraud " * 8
    )
    organization_set_status(organization=customer.organization, status="active", actor=admin, reason="Cleared")
    return filled, item


def test_staff_pages_fit_a_desktop_and_a_phone(new_context, live_server, staff_data, customer, settings):
    from django.urls import reverse

    from tests.browser.conftest import DESKTOP, MOBILE
    from tests.browser.pages import OVERFLOW_JS

    filled, item = staff_data
    settings.STAFF_REQUIRE_2FA = False
    staff = UserFactory(username="stella", email="stella@codeformer.test", is_staff=True)
    StaffMember.objects.create(user=staff, role=StaffMember.Role.ADMIN)
    urls = {
        "home": reverse("staff:home"),
        "request": reverse("staff:request_detail", args=[filled.failed.id]),
        "organization": reverse("staff:organization_detail", args=[customer.organization.id]),
        "organizations": reverse("staff:organizations"),
        "queue": reverse("moderation:queue"),
        "item": reverse("moderation:item", args=[item.id]),
        "blocklist": reverse("moderation:blocklist"),
        "audit": reverse("moderation:audit"),
        "billing": reverse("staff:billing"),
        "finance": reverse("staff:finance"),
    }
    problems = {}
    for label, viewport in (("desktop", DESKTOP), ("phone", MOBILE)):
        context = new_context(viewport)
        sign_in(context, staff, live_server)
        page = context.new_page()
        for name, url in urls.items():
            assert page.goto(url).status == 200, url
            result = page.evaluate(OVERFLOW_JS)
            if result["scrollWidth"] > result["width"] or result["out"]:
                problems[f"{name} ({label})"] = result
            if label == "desktop" and name in ("audit", "request", "item"):
                wide = page.evaluate(TABLES_FIT_JS)
                if wide:
                    problems[f"{name} tables ({label})"] = wide
    assert problems == {}
