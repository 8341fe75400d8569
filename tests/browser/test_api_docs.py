"""The interactive API docs render from this deployment's own static files: every request to
anything but the server is blocked (and would fail the test through the page fixture)."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.accounts.factories import make_key


def test_swagger_ui_renders_every_operation_offline(page):
    page.goto("/api/docs/")

    expect(page).to_have_title("API docs · CodeFormer Cloud")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("CodeFormer face restoration API")
    expect(
        page.locator(".opblock-summary-path", has_text="/codeformer-image-restoration/v1/codeformer/generate")
    ).to_be_visible()
    expect(page.locator(".opblock-summary-path", has_text="/api/process")).to_be_visible()
    assert all("/static/" in src for src in page.eval_on_selector_all("script[src]", "els => els.map(e => e.src)"))


def test_redoc_renders_the_reference_offline(page):
    page.goto("/api/redoc/")

    expect(page).to_have_title("API reference · CodeFormer Cloud")
    expect(page.get_by_role("heading", level=1)).to_contain_text("CodeFormer face restoration API")
    expect(page.get_by_text("/v2/requests/status/{request_id}").first).to_be_attached()


def test_a_chosen_key_authorizes_try_it_out(page, customer):
    _, key = make_key(customer.organization, name="docs")
    page.goto("/api/docs/#/Gateway%20API/request_list")  # deep link: the operation opens

    page.locator(".auth-wrapper button.authorize").click()
    dialog = page.locator(".dialog-ux")
    scheme = dialog.locator(".auth-container", has_text="Ocp-Apim-Subscription-Key")  # the documented header
    scheme.locator("input").fill(key)
    scheme.locator("button.authorize").click()
    dialog.locator("button.btn-done").first.click()
    operation = page.locator("#operations-Gateway_API-request_list")
    operation.get_by_role("button", name="Try it out").click()
    with page.expect_response(lambda r: "/v2/requests?" in r.url or r.url.endswith("/v2/requests")) as answer:
        operation.get_by_role("button", name="Execute").click()

    assert answer.value.status == 200
    assert answer.value.request.headers["ocp-apim-subscription-key"] == key
    expect(operation.locator(".live-responses-table tbody .response-col_status").first).to_have_text("200")


def test_a_signed_in_owner_authorizes_try_it_out_in_one_click(member_page, customer):
    from accounts.keys import authenticate_key
    from accounts.models import Subscription

    page = member_page
    page.goto("/api/docs/#/Gateway%20API/request_list")
    page.get_by_role("button", name="create a key for this page").click()
    expect(page.locator("#docs-key-status")).to_contain_text("Authorized with the new key set")

    operation = page.locator("#operations-Gateway_API-request_list")
    operation.get_by_role("button", name="Try it out").click()
    with page.expect_response(lambda r: "/v2/requests" in r.url) as answer:
        operation.get_by_role("button", name="Execute").click()

    assert answer.value.status == 200
    sent = answer.value.request.headers["ocp-apim-subscription-key"]
    assert authenticate_key(sent).organization == customer.organization
    assert Subscription.objects.filter(organization=customer.organization, name__startswith="API docs").count() == 1

    # The key stays in this browser: after a reload the page is still authorized and offers no
    # second key set.
    page.reload()
    expect(page.locator("#docs-key-status")).to_contain_text("authorized with a key kept in this browser")
    expect(page.get_by_role("button", name="create a key for this page")).to_be_hidden()
    # The offer goes with its button: the note still reads as one sentence.
    note = page.locator(".docs-note").inner_text()
    assert "a new key set of your organization" not in note and "or (" not in note
    operation = page.locator("#operations-Gateway_API-request_list")
    operation.get_by_role("button", name="Try it out").click()
    with page.expect_response(lambda r: "/v2/requests" in r.url) as answer:
        operation.get_by_role("button", name="Execute").click()
    assert answer.value.request.headers["ocp-apim-subscription-key"] == sent
    assert Subscription.objects.filter(organization=customer.organization, name__startswith="API docs").count() == 1
