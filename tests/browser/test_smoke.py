"""The dashboard in a real Chromium: a signed-in member sees their organization."""

from __future__ import annotations

from playwright.sync_api import expect


def test_a_signed_in_member_sees_the_overview_with_the_wallet(member_page, customer):
    member_page.goto("/")

    expect(member_page).to_have_title("Overview · CodeFormer Cloud")
    expect(member_page.get_by_role("heading", level=1)).to_have_text("Acme Photos")
    expect(member_page.locator(".stat").filter(has_text="Available")).to_contain_text("$10.00")


def test_a_signed_out_visitor_is_sent_to_log_in(page):
    page.goto("/keys/")

    assert "/accounts/login/" in page.url
    expect(page.locator("form input[type=password]")).to_be_visible()


def test_requests_to_anything_but_the_live_server_are_blocked(page, live_server, outside_requests):
    page.goto("/accounts/login/")

    answered = page.evaluate(
        "() => fetch('https://cdn.jsdelivr.net/npm/swagger-ui-dist/swagger-ui.css').then(() => true, () => false)"
    )

    assert answered is False
    assert outside_requests.urls == ["https://cdn.jsdelivr.net/npm/swagger-ui-dist/swagger-ui.css"]
    outside_requests.urls.clear()  # seen and expected: the fixture fails any test that leaves one
