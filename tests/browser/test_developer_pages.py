"""The developer pages in Chromium: the quick start's code is copied exactly as shown, with this
deployment's base URL, and right after a key is made the copied code carries that key."""

from __future__ import annotations

from playwright.sync_api import expect


def test_a_snippet_on_the_quick_start_is_copied_with_this_deployments_base_url(member_page, live_server):
    page = member_page
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.goto("/")
    page.get_by_role("link", name="Quick start").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Quick start")

    gateway = page.locator("section.snippets", has_text="Gateway API")
    gateway.get_by_role("tab", name="Python").click()
    panel = gateway.locator("[role=tabpanel]:not([hidden])")
    button = panel.locator("button.copy")
    button.click()
    expect(button).to_have_text("Copied")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied == panel.locator("code").inner_text()
    assert f"{live_server.url}/codeformer-image-restoration/v1/codeformer/generate" in copied
    assert 'KEY = os.environ["CODEFORMER_KEY"]' in copied


def test_right_after_creating_a_key_the_copied_quick_start_carries_it(member_page, live_server):
    page = member_page
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.goto("/keys/")
    page.get_by_label("Name").fill("First integration")
    page.get_by_role("button", name="Create keys").click()
    key = page.locator("[data-secret=primary]").inner_text()

    demo = page.locator("section.snippets", has_text="Demo API")
    panel = demo.locator("[role=tabpanel]:not([hidden])")  # curl comes first
    panel.get_by_role("button", name="Copy").click()
    copied = page.evaluate("navigator.clipboard.readText()")
    assert f"Ocp-Apim-Subscription-Key: {key}" in copied
    assert f"{live_server.url}/api/process" in copied
