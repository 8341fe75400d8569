"""``make screenshots``: a PNG of every page at 1280 px and 390 px in ``screenshots/``, for a
person to look at. Not collected by the suite (the file name does not match ``test_*.py``);
the make target names it."""

from __future__ import annotations

import os
from pathlib import Path

from tests.browser.conftest import DESKTOP, MOBILE
from tests.browser.pages import dashboard_with_data, page_urls

SIGNED_OUT = {
    "login": "/accounts/login/",
    "signup": "/accounts/signup/",
    "api-docs": "/api/docs/",
    "api-redoc": "/api/redoc/",
}


def _target() -> Path:
    target = Path(os.environ.get("SCREENSHOTS_DIR", "screenshots"))
    target.mkdir(parents=True, exist_ok=True)
    return target


def test_screenshots_of_every_page(signed_in, new_context, customer, settings):
    target = _target()
    urls = page_urls(dashboard_with_data(customer.organization, settings))
    written = []
    for label, viewport in (("desktop", DESKTOP), ("mobile", MOBILE)):
        page = signed_in(viewport)
        for name, url in {**urls, "staff-blocked": "/staff/"}.items():
            page.goto(url)
            page.wait_for_load_state("networkidle")
            path = target / f"{name}-{label}.png"
            page.screenshot(path=str(path), full_page=True)
            written.append(path)
        anonymous = new_context(viewport).new_page()
        for name, url in SIGNED_OUT.items():
            anonymous.goto(url)
            anonymous.wait_for_load_state("networkidle")
            path = target / f"{name}-{label}.png"
            anonymous.screenshot(path=str(path), full_page=True)
            written.append(path)
    assert all(path.stat().st_size > 1000 for path in written)
    print(f"\n{len(written)} screenshots in {target}")
