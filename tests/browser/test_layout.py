"""At 390 px (a phone) nothing on any dashboard page is wider than the screen: most tables scroll
inside their card; the key, job, wallet plan and ledger tables and the landing page's prices stack
each row as labelled fields; every nav entry is on screen, the header keeps to one row and no copy
button covers code. Every page has a title, one main landmark, the active nav item marked with
aria-current, and a label for every control."""

from __future__ import annotations

import pytest

from tests.browser.conftest import MOBILE
from tests.browser.pages import OVERFLOW_JS, dashboard_with_data, page_urls

UNLABELLED_JS = """
() => [...document.querySelectorAll("main input, main select, main textarea")]
  .filter((el) => el.type !== "hidden" && !el.closest("[hidden]"))
  .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute("aria-label") && !el.getAttribute("aria-labelledby") && !el.closest("label"))
  .map((el) => `${el.tagName.toLowerCase()}[name=${el.name}]`)
"""


@pytest.fixture
def filled(customer, settings):
    return dashboard_with_data(customer.organization, settings)


def test_no_dashboard_page_is_wider_than_a_390_px_screen(signed_in, filled):
    page = signed_in(MOBILE)
    problems = {}
    for name, url in page_urls(filled).items():
        page.goto(url)
        page.wait_for_load_state("load")
        result = page.evaluate(OVERFLOW_JS)
        if result["scrollWidth"] > result["width"] or result["out"]:
            problems[name] = result
    assert problems == {}


def test_every_dashboard_page_is_titled_labelled_and_marks_where_you_are(signed_in, filled):
    page = signed_in()
    for name, url in page_urls(filled).items():
        response = page.goto(url)
        assert response.status == {"not-found": 404, "form-target": 405}.get(name, 200), name
        title = page.title()
        assert title.endswith("· CodeFormer Cloud") and len(title) > len("· CodeFormer Cloud") + 1, (name, title)
        assert page.evaluate(UNLABELLED_JS) == [], name
        if name not in ("not-found", "form-target", "account"):
            current = page.locator("nav.sidebar [aria-current=page]")
            assert current.count() == 1, name


def test_the_keyboard_reaches_the_main_content_with_a_visible_focus(member_page):
    page = member_page
    page.goto("/keys/")

    page.keyboard.press("Tab")
    skip = page.locator(".skip-link")
    assert skip.evaluate("el => el === document.activeElement")
    assert skip.evaluate("el => el.getBoundingClientRect().top >= 0")  # shown while focused
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    focused = page.evaluate(
        "() => [document.activeElement.name, getComputedStyle(document.activeElement).outlineStyle]"
    )
    assert focused == ["name", "solid"]  # the key name field, with a visible outline


EMPTY_CLIPPED_JS = """
() => [...document.querySelectorAll(".table-wrap td.empty")].filter((cell) => {
  const wrap = cell.closest(".table-wrap").getBoundingClientRect();
  const range = document.createRange();
  range.selectNodeContents(cell);
  const text = range.getBoundingClientRect();
  return text.right > wrap.right + 0.5 || text.left < wrap.left - 0.5;
}).map((cell) => cell.textContent.trim())
"""


def test_an_empty_tables_message_is_read_whole_on_a_phone(signed_in):
    """A new organization's tables are empty; their message is not cut off inside the scroller."""
    page = signed_in(MOBILE)
    for url in ["/", "/jobs/", "/keys/", "/wallet/", "/webhooks/"]:
        page.goto(url)
        page.wait_for_load_state("load")
        assert page.locator(".table-wrap td.empty").count() >= 1, url
        assert page.evaluate(EMPTY_CLIPPED_JS) == [], url


# Each nav entry's box against the screen; the nav and header must not scroll sideways.
NAV_JS = """
() => {
  const width = document.documentElement.clientWidth;
  const nav = document.querySelector("nav.sidebar");
  const off = [...nav.querySelectorAll("a")].filter((a) => {
    const r = a.getBoundingClientRect();
    return r.width === 0 || r.left < 0 || r.right > width || getComputedStyle(a).visibility !== "visible";
  }).map((a) => a.textContent.trim());
  return {entries: nav.querySelectorAll("a").length, off, scrolls: nav.scrollWidth > nav.clientWidth};
}
"""

# The header's visible items: all on one row (the same vertical band), none past the screen edge.
HEADER_JS = """
() => {
  const width = document.documentElement.clientWidth;
  const items = [...document.querySelectorAll(".topbar > *")].filter((el) => {
    const r = el.getBoundingClientRect();
    return r.width > 1 && r.height > 1 && !el.classList.contains("spacer");
  }).map((el) => el.getBoundingClientRect());
  const top = Math.min(...items.map((r) => r.top));
  const bottom = Math.max(...items.map((r) => r.bottom));
  return {count: items.length, oneRow: items.every((r) => r.top < top + (bottom - top) / 2 && r.bottom > top + (bottom - top) / 2),
          height: document.querySelector(".topbar").getBoundingClientRect().height,
          past: items.filter((r) => r.right > width || r.left < 0).length};
}
"""


def test_every_nav_entry_is_on_a_390_px_screen_without_scrolling_sideways(signed_in):
    page = signed_in(MOBILE)
    page.goto("/")
    nav = page.evaluate(NAV_JS)
    assert nav["entries"] >= 13  # Overview … Audit trail, with Wallet, API keys, Team and Settings among them
    assert nav == {"entries": nav["entries"], "off": [], "scrolls": False}
    for name in ("Wallet", "API keys", "Team", "Settings", "Account & security"):
        assert page.locator("nav.sidebar").get_by_role("link", name=name, exact=True).is_visible(), name


def test_the_header_fits_one_row_on_a_390_px_screen(signed_in):
    page = signed_in(MOBILE)
    page.goto("/")
    header = page.evaluate(HEADER_JS)
    assert header["count"] >= 3  # the logo, the organization, Log out
    assert header["oneRow"] and header["past"] == 0, header
    assert header["height"] < 60, header
    assert page.get_by_role("button", name="Log out").is_visible()


# Cells of the stacked tables that are not wholly on screen, or whose label is missing.
STACKED_CELLS_JS = """
() => {
  const width = document.documentElement.clientWidth;
  return [...document.querySelectorAll("table.stack td:not(.empty)")].flatMap((td) => {
    const r = td.getBoundingClientRect();
    const problems = [];
    if (r.width === 0 || r.left < 0 || r.right > width + 0.5 || td.scrollWidth > td.clientWidth + 1) problems.push("clipped");
    const label = getComputedStyle(td, "::before").content;
    if (label !== `"${td.dataset.label}"` || !td.dataset.label) problems.push(`label ${label}`);
    return problems.map((p) => `${td.dataset.label || td.textContent.trim().slice(0, 20)}: ${p}`);
  });
}
"""


def test_every_key_and_job_field_is_on_a_390_px_screen_with_its_label(signed_in, filled):
    page = signed_in(MOBILE)
    for url in ["/keys/", "/jobs/", "/"]:
        page.goto(url)
        page.wait_for_load_state("load")
        assert page.locator("table.stack td[data-label]").count() >= 6, url
        assert page.evaluate(STACKED_CELLS_JS) == [], url
    page.goto("/keys/")
    for name in ("Regenerate", "Revoke"):
        for button in page.get_by_role("button", name=name).all():
            box = button.bounding_box()
            assert box and box["x"] >= 0 and box["x"] + box["width"] <= MOBILE["width"], name
    assert page.get_by_text("never").first.is_visible()  # the Last used column


def test_every_audit_trail_field_is_on_a_390_px_screen_with_its_label(signed_in, filled):
    page = signed_in(MOBILE)
    page.goto("/audit/")
    page.wait_for_load_state("load")
    assert page.locator("table.stack td[data-label]").count() >= 5
    assert page.evaluate(STACKED_CELLS_JS) == []
    assert page.locator("td[data-label='Before → after']").first.is_visible()


def test_every_wallet_plan_and_ledger_field_is_on_a_390_px_screen_with_its_label(signed_in, filled):
    page = signed_in(MOBILE)
    page.goto("/wallet/")
    page.wait_for_load_state("load")
    for table in ("table.plans-table", "table.ledger-table"):
        assert page.locator(f"{table}.stack td[data-label]").count() >= 4, table
    assert page.evaluate(STACKED_CELLS_JS) == []
    for name in ("Switch", "Ask us by email"):
        for control in page.get_by_text(name, exact=True).all():
            box = control.bounding_box()
            assert box and box["x"] >= 0 and box["x"] + box["width"] <= MOBILE["width"], name
    assert page.locator("table.ledger-table td[data-label=Amount]").first.is_visible()


def test_every_landing_price_is_on_a_390_px_screen_with_its_label(new_context):
    page = new_context(MOBILE).new_page()
    page.goto("/")
    page.wait_for_load_state("load")
    cells = page.locator("table.prices.stack td[data-label]")
    assert cells.count() >= 5
    assert page.evaluate(STACKED_CELLS_JS) == []
    assert page.locator("table.prices td[data-label='Monthly fee']").first.is_visible()


# Visible code blocks whose copy button overlaps the code.
COPY_OVERLAP_JS = """
() => [...document.querySelectorAll(".snippet:not([hidden])")].filter((snippet) => {
  const b = snippet.querySelector("button.copy").getBoundingClientRect();
  const c = snippet.querySelector("pre").getBoundingClientRect();
  return b.left < c.right && b.right > c.left && b.top < c.bottom && b.bottom > c.top;
}).map((snippet) => snippet.id)
"""


@pytest.mark.parametrize("viewport", [MOBILE, None], ids=["390px", "1280px"])
def test_a_copy_button_never_covers_the_code(signed_in, filled, viewport):
    page = signed_in(viewport)
    for url in ["/quickstart/", f"/jobs/{filled.completed.request_id}/"]:
        page.goto(url)
        page.wait_for_load_state("load")
        assert page.locator(".snippet:not([hidden]) button.copy").count() >= 1, url
        assert page.evaluate(COPY_OVERLAP_JS) == [], url


def test_every_team_field_and_button_is_on_a_390_px_screen_with_its_label(signed_in, customer):
    from accounts.services import invitation_create, membership_add
    from tests.accounts.factories import UserFactory

    membership_add(organization=customer.organization, user=UserFactory(username="bob", email="bob.teammate@acme.test"))
    owner = customer.organization.memberships.get(user=customer.user)
    invitation_create(actor=owner, email="nina.newcomer@example.com", role="member", base_url="http://testserver")
    page = signed_in(MOBILE)
    page.goto("/team/")
    page.wait_for_load_state("load")
    assert page.locator("table.stack td[data-label]").count() >= 8
    assert page.evaluate(STACKED_CELLS_JS) == []
    for name in ("Change", "Remove", "Withdraw"):
        buttons = page.get_by_role("button", name=name).all()
        assert buttons, name
        for button in buttons:
            box = button.bounding_box()
            assert box and box["x"] >= 0 and box["x"] + box["width"] <= MOBILE["width"], name


# How many lines each quick-start value takes (its label now sits above it on a phone).
SECRET_LINES_JS = """
() => [...document.querySelectorAll(".secret span[id]")].map((el) => {
  const lineHeight = parseFloat(getComputedStyle(el).lineHeight) || parseFloat(getComputedStyle(el).fontSize) * 1.5;
  return [el.id, Math.round(el.getBoundingClientRect().height / lineHeight)];
})
"""


# Lines taken by the text of element #id from `start` to its end.
UNBROKEN_JS = """
([id, start]) => {
  const text = document.getElementById(id).firstChild;
  const range = document.createRange();
  range.setStart(text, text.data.indexOf(start));
  range.setEnd(text, text.data.length);
  return new Set([...range.getClientRects()].map((r) => Math.round(r.top))).size;
}
"""


def test_the_quick_starts_base_url_and_export_line_do_not_break_on_a_390_px_screen(signed_in):
    page = signed_in(MOBILE)
    page.goto("/quickstart/")
    page.wait_for_load_state("load")
    lines = dict(page.evaluate(SECRET_LINES_JS))
    assert lines["qs-base-url"] == 1 and lines["qs-export"] <= 2, lines
    # The export line may wrap at its space, never inside the variable's assignment.
    assert page.evaluate(UNBROKEN_JS, ["qs-export", "CODEFORMER_KEY="]) == 1
    overflow = page.evaluate(OVERFLOW_JS)
    assert overflow["scrollWidth"] <= overflow["width"] and not overflow["out"], overflow
