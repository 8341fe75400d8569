"""At 390 px (a phone) nothing on any dashboard page is wider than the screen: tables scroll
inside their card. Every page has a title, one main landmark, the active nav item marked with
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
        assert response.status == (404 if name == "not-found" else 200), name
        title = page.title()
        assert title.endswith("· CodeFormer Cloud") and len(title) > len("· CodeFormer Cloud") + 1, (name, title)
        assert page.evaluate(UNLABELLED_JS) == [], name
        if name not in ("not-found", "account"):
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
