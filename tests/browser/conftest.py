"""Browser tests: Playwright for Python driving Debian's Chromium against pytest-django's live server.

One Chromium for the whole session; a fresh context (cookies, storage) per test. Every request
the page makes to anything but the live server is aborted and recorded, and a test that caused
one fails: the product must work on a machine without internet (no CDN fonts, scripts or
styles). The live server runs in this process, so the ``settings`` fixture reaches it, and the
worker that restores photos is a real Dramatiq worker on the Redis test broker, consuming the
gpu queue with the suite's stand-in engine.

Chromium comes from ``scripts/ensure-chromium.sh`` (``make test`` runs it). Without it these
tests fail with the command to run; they are never skipped.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import pytest

# Playwright's sync API keeps an asyncio loop running on the main thread; Django's ORM refuses
# to run while one is running unless told that this is not an async context it must protect.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DESKTOP = {"width": 1280, "height": 900}
MOBILE = {"width": 390, "height": 844}
PASSWORD = "correct horse battery staple"  # tests.accounts.factories.DEFAULT_PASSWORD


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        pytest.fail(
            f"Chromium is not installed at {CHROMIUM}: run `bash scripts/ensure-chromium.sh` "
            "(make test does) or set CHROMIUM_PATH",
            pytrace=False,
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@dataclass
class Outside:
    """Requests the page tried to make to anything but the live server (all aborted)."""

    urls: list[str] = field(default_factory=list)


@pytest.fixture
def outside_requests() -> Outside:
    return Outside()


@pytest.fixture
def new_context(browser, live_server, outside_requests):
    """Make browser contexts (a viewport each) whose network ends at the live server."""
    contexts = []
    origin = live_server.url.rstrip("/")

    def guard(route):
        url = route.request.url
        if url == origin or url.startswith(origin + "/"):
            route.continue_()
        else:
            outside_requests.urls.append(url)
            route.abort("blockedbyclient")

    def make(viewport: dict | None = None, **options):
        context = browser.new_context(viewport=viewport or DESKTOP, base_url=origin, accept_downloads=True, **options)
        context.set_default_timeout(15_000)
        context.route("**/*", guard)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()
    assert not outside_requests.urls, f"the page tried to reach outside the server: {outside_requests.urls}"


@pytest.fixture
def page(new_context):
    """A signed-out page at 1280 px."""
    return new_context().new_page()


@dataclass
class Customer:
    user: object
    organization: object


@pytest.fixture
def customer(transactional_db) -> Customer:
    """An owner of an organization with $10.00 of credit, made through the real services."""
    from tests.accounts.factories import OrganizationFactory, UserFactory

    user = UserFactory(username="olivia", email="olivia@acme.test")
    organization = OrganizationFactory(name="Acme Photos", owner=user, initial_credit=1000)
    return Customer(user=user, organization=organization)


def sign_in(context, user, live_server) -> None:
    """Give the context a real session for ``user`` (what the login form would leave behind)."""
    from django.conf import settings
    from django.test import Client

    client = Client()
    client.force_login(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": cookie.value, "url": live_server.url, "httpOnly": True}]
    )


@pytest.fixture
def signed_in(new_context, customer, live_server):
    """Make a signed-in page for ``customer.user`` at a given viewport (1280 px by default)."""

    def make(viewport: dict | None = None):
        context = new_context(viewport)
        sign_in(context, customer.user, live_server)
        return context.new_page()

    return make


@pytest.fixture
def member_page(signed_in):
    """A page signed in as the customer's owner, at 1280 px."""
    return signed_in()


@pytest.fixture
def stand_in_engine(settings):
    """The suite's small engine (tests/jobs/engines.py) instead of the real networks."""
    from jobs.engine import reset_engine
    from tests.jobs.engines import FakeEngine

    settings.RESTORATION_ENGINE = "tests.jobs.engines.FakeEngine"
    reset_engine()
    FakeEngine.reset()
    yield FakeEngine
    if FakeEngine.gate is not None:
        FakeEngine.gate.set()  # never leave the worker blocked inside a run
    FakeEngine.reset()
    reset_engine()


@pytest.fixture
def gpu_worker(transactional_db, stand_in_engine):
    """A real Dramatiq worker on the Redis test broker consuming the gpu queue, as in production."""
    import dramatiq
    from django.db import connection

    import jobs.actors  # noqa: F401 - declares the actors (and their queues) on the broker

    broker = dramatiq.get_broker()
    broker.flush_all()
    worker = dramatiq.Worker(broker, worker_timeout=100, worker_threads=1, queues={"gpu"})
    worker.start()
    yield worker
    worker.stop()
    broker.flush_all()
    connection.close()
