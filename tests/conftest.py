"""Fixtures every test module shares.

Each test starts with an empty Redis test database (rate-limit counters and broker queues from
one test must not leak into the next) and its own media folder.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import pytest

SHARED_DIR = Path(os.environ.get("SHARED_DIR", Path(__file__).resolve().parents[1].parent / "shared"))


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED_DIR.is_dir():
        pytest.fail(f"shared material not found at {SHARED_DIR}; set SHARED_DIR")
    return SHARED_DIR


def _django_active(request) -> bool:
    return request.config.pluginmanager.hasplugin("django")


@pytest.fixture(autouse=True)
def _clean_redis(request):
    """Flush the test Redis database (counters, queues) before each test, and close the
    process's Redis circuit breakers (a test that made Redis fail must not switch it off for the
    next one)."""
    if not _django_active(request):
        yield
        return
    from django.conf import settings

    from lib.breaker import reset_all

    reset_all()

    if settings.REDIS_URL:
        import redis

        # Tests that need Redis fail on their own, with a clearer error, when it is down.
        with contextlib.suppress(redis.ConnectionError):
            redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1).flushdb()
    yield


@pytest.fixture(autouse=True)
def _media_root(request, tmp_path):
    """Give each Django test its own MEDIA_ROOT so leftover-file checks are exact."""
    if not _django_active(request):
        yield None
        return
    settings = request.getfixturevalue("settings")
    media = tmp_path / "media"
    media.mkdir()
    settings.MEDIA_ROOT = str(media)
    yield media


SEED_MIGRATIONS = (
    "billing.migrations.0002_default_plan_and_prices",
    "billing.migrations.0004_seed_plans",
    "billing.migrations.0005_plan_trial_credit",
)


@pytest.fixture(autouse=True)
def _default_plan_and_prices(request):
    """Re-seed billing migrations 0002, 0004 and 0005 (plans, price tables, trial credit) for every database test.

    Transactional tests (the ones that run a real worker) flush every table when they end,
    seeded rows included; later tests must still find the defaults a fresh database has.
    """
    names = set(request.fixturenames)
    if request.node.get_closest_marker("django_db") is None:
        if "transactional_db" in names:
            request.getfixturevalue("transactional_db")
        elif "db" in names:
            request.getfixturevalue("db")
        else:
            yield
            return
    import importlib

    from django.apps import apps

    from billing.pricing import price_table_forget

    for migration in SEED_MIGRATIONS:
        importlib.import_module(migration).seed(apps, None)
    # A copy of the price tables cached by an earlier test may hold rows its rollback undid.
    price_table_forget()
    yield


@pytest.fixture(autouse=True)
def _reconcile_after_each_test(request):
    """With RECONCILE_LEDGER=1 (``make test`` sets it), run the reconciliation of
    ``billing.reconcile`` on what each database test leaves behind, before its transaction is
    rolled back (or its tables flushed), and fail the test on any difference. Tests that plant a
    discrepancy on purpose are marked ``ledger_discrepancy``."""
    if os.environ.get("RECONCILE_LEDGER") != "1" or request.node.get_closest_marker("ledger_discrepancy"):
        yield
        return
    names = set(request.fixturenames)
    if request.node.get_closest_marker("django_db") is None and not names & {"db", "transactional_db"}:
        yield
        return
    # Set up the database first, so this fixture's teardown runs before the rollback.
    request.getfixturevalue("_django_db_helper")
    yield
    from billing.reconcile import reconcile

    differences = reconcile()
    if differences:
        pytest.fail("the test left the money unreconciled:\n" + "\n".join(str(d) for d in differences[:20]))


@pytest.fixture
def steady_minute():
    """The request budget is per clock minute (accounts.ratelimit's fixed window): a test that
    spends it and expects the next request refused starts at least 10 s before the minute turns,
    or waits for the next minute, so the window cannot reset between its requests."""
    import time

    left = 60 - time.time() % 60
    if left < 10:
        time.sleep(left + 0.05)
