"""``make screenshots``: a PNG of every page at 1280 px and 390 px in ``screenshots/``, for a
person to look at. Not collected by the suite (the file name does not match ``test_*.py``);
the make target names it."""

from __future__ import annotations

import os
from pathlib import Path

from tests.browser.conftest import DESKTOP, MOBILE, sign_in
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


def _staff_urls(filled, organization) -> dict[str, str]:
    from django.urls import reverse

    return {
        "staff-home": reverse("staff:home"),
        "staff-request-lookup": reverse("staff:request_lookup") + "?q=codeformer-image-restoration_unknown",
        "staff-request-completed": reverse("staff:request_detail", args=[filled.completed.id]),
        "staff-request-failed": reverse("staff:request_detail", args=[filled.failed.id]),
        "staff-organization": reverse("staff:organization_detail", args=[organization.id]),
        "staff-moderation": reverse("moderation:queue"),
        "staff-billing": reverse("staff:billing"),
        "staff-finance": reverse("staff:finance"),
        "staff-audit": reverse("moderation:audit"),
    }


def test_screenshots_of_every_page(signed_in, new_context, customer, settings, live_server):
    from moderation.models import StaffMember
    from tests.accounts.factories import UserFactory

    target = _target()
    filled = dashboard_with_data(customer.organization, settings)
    urls = page_urls(filled)
    settings.STAFF_REQUIRE_2FA = False
    staff = UserFactory(username="stella", email="stella@codeformer.test", is_staff=True)
    StaffMember.objects.create(user=staff, role=StaffMember.Role.ADMIN)
    staff_urls = _staff_urls(filled, customer.organization)
    written = []
    for label, viewport in (("desktop", DESKTOP), ("mobile", MOBILE)):
        page = signed_in(viewport)
        for name, url in {**urls, "staff-blocked": "/staff/"}.items():
            page.goto(url)
            page.wait_for_load_state("networkidle")
            path = target / f"{name}-{label}.png"
            page.screenshot(path=str(path), full_page=True)
            written.append(path)
        staff_context = new_context(viewport)
        sign_in(staff_context, staff, live_server)
        staff_page = staff_context.new_page()
        for name, url in staff_urls.items():
            staff_page.goto(url)
            staff_page.wait_for_load_state("networkidle")
            path = target / f"{name}-{label}.png"
            staff_page.screenshot(path=str(path), full_page=True)
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
