"""PostgreSQL refused or hung: health answers 503 "degraded" saying the database is down, the
APIs answer 503 in their own error shapes, and nothing is charged or left behind.

The web process's connection is pointed at a port nobody listens on (refused), or at a socket
that accepts and never answers (hung, bounded by DB_CONNECT_TIMEOUT_S), the real failure a
client of PostgreSQL sees, not a patched one.
"""

from __future__ import annotations

import base64

import pytest
from django.db import connection

from tests.attack.peers import hostile_server, run_bounded, stall_after_connect
from tests.attack.redis_server import free_port
from tests.restoration.conftest import GENERATE_URL, HEALTH_URL, PROCESS_URL, png_bytes

pytestmark = pytest.mark.django_db(transaction=True)

BOUND_S = 20  # a hang guard: several times the 2 s connect timeout used below


class DatabaseOutage:
    """Points the database connections at another address until ``end`` (or the test) ends."""

    def __init__(self):
        self.saved = {key: connection.settings_dict.get(key) for key in ("HOST", "PORT", "OPTIONS")}

    def point_at(self, port: int, *, connect_timeout: int = 2) -> None:
        connection.close()
        connection.settings_dict.update(
            HOST="127.0.0.1",
            PORT=str(port),
            OPTIONS={**(self.saved["OPTIONS"] or {}), "connect_timeout": connect_timeout},
        )

    def end(self) -> None:
        connection.close()
        connection.settings_dict.update(self.saved)


@pytest.fixture
def outage():
    outage = DatabaseOutage()
    yield outage
    outage.end()


def _bounded(call):
    outcome = run_bounded(call, within_s=BOUND_S)
    assert "error" not in outcome, outcome
    return outcome["value"]


def test_health_answers_503_degraded_and_says_the_database_is_down(anonymous_client, outage):
    outage.point_at(free_port())
    response = anonymous_client.get(HEALTH_URL)

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "degraded"
    assert body["database"] == "down"
    assert body["redis"] == "up"
    assert body["queue_depth"] is None
    assert body["worker"] == {"alive": False, "last_seen_at": None}
    assert int(response["Retry-After"]) > 0

    outage.end()
    recovered = anonymous_client.get(HEALTH_URL)
    assert recovered.status_code == 200
    assert recovered.json()["database"] == "up"


def test_a_hung_database_costs_health_the_connect_timeout_not_the_worker(anonymous_client, outage):
    def call():
        try:
            return anonymous_client.get(HEALTH_URL)
        finally:
            connection.close()  # the helper thread's own connection

    with hostile_server(stall_after_connect) as base:
        # Every thread's connection reads the same settings: the helper's connects here too.
        outage.point_at(int(base.rsplit(":", 1)[1]), connect_timeout=2)
        response = _bounded(call)
    assert response.status_code == 503
    assert response.json()["database"] == "down"


def test_a_gateway_submission_answers_503_in_the_gateway_shape_and_charges_nothing(customer, outage, nothing_created):
    guard = nothing_created()
    client = customer.client()
    outage.point_at(free_port())

    response = client.post(GENERATE_URL, {"image_base64": base64.b64encode(png_bytes()).decode()}, format="json")

    assert response.status_code == 503
    assert response.json() == {
        "error": "Service Unavailable",
        "message": "The service's database is unavailable; nothing was charged. Please try again shortly.",
    }
    assert int(response["Retry-After"]) > 0
    outage.end()
    guard.assert_unchanged()


def test_a_demo_submission_answers_503_in_the_demo_shape_and_charges_nothing(customer, outage, nothing_created):
    guard = nothing_created()
    client = customer.client()
    outage.point_at(free_port())

    response = client.post(PROCESS_URL, {"image_base64": base64.b64encode(png_bytes()).decode()}, format="json")

    assert response.status_code == 503
    assert response.json() == {
        "status": "error",
        "message": "The service's database is unavailable; nothing was charged. Please try again shortly.",
    }
    outage.end()
    guard.assert_unchanged()


def test_the_database_failing_after_the_key_was_read_still_charges_nothing(customer, nothing_created, monkeypatch):
    """The key is checked, then the database goes away before the jobs are written."""
    from jobs import services

    guard = nothing_created()
    outage = DatabaseOutage()
    real_create = services._create_jobs

    def database_gone(**kwargs):
        outage.point_at(free_port())
        return real_create(**kwargs)

    monkeypatch.setattr(services, "_create_jobs", database_gone)
    try:
        response = customer.client().post(
            GENERATE_URL, {"image_base64": base64.b64encode(png_bytes()).decode()}, format="json"
        )
    finally:
        outage.end()

    assert response.status_code == 503
    assert response.json()["error"] == "Service Unavailable"
    guard.assert_unchanged()  # and the stored input file was deleted again


@pytest.fixture
def anonymous_client():
    from rest_framework.test import APIClient

    return APIClient()


# --- The HTML pages: a 503 page with Retry-After, not the 500 page -------------------------------


@pytest.fixture
def browser_client():
    from django.test import Client

    # As a browser meets it: the handler's page, not the exception re-raised into the test.
    return Client(raise_request_exception=False)


def _assert_unavailable_page(response):
    assert response.status_code == 503
    assert int(response["Retry-After"]) > 0
    page = response.content.decode()
    assert "We can't reach our database right now" in page
    assert "Something went wrong" not in page


def test_a_signed_in_dashboard_page_answers_the_503_page_and_recovers(browser_client, outage):
    from tests.accounts.factories import OrganizationFactory, UserFactory

    owner = UserFactory(username="dora", email="dora@acme.test")
    OrganizationFactory(name="Acme Photos", owner=owner, initial_credit=1000)
    browser_client.force_login(owner)
    assert browser_client.get("/keys/").status_code == 200

    outage.point_at(free_port())
    _assert_unavailable_page(browser_client.get("/keys/"))

    outage.end()
    assert browser_client.get("/keys/").status_code == 200


def test_signing_up_while_the_database_is_down_answers_the_503_page_and_creates_nobody(browser_client, outage):
    from django.contrib.auth import get_user_model

    users = get_user_model().objects.count()
    outage.point_at(free_port())
    response = browser_client.post(
        "/accounts/signup/",
        {"email": "new@customer.test", "password1": "a-long-pass-phrase-9", "password2": "a-long-pass-phrase-9"},
    )
    _assert_unavailable_page(response)
    outage.end()
    assert get_user_model().objects.count() == users


def test_any_other_failure_is_still_the_500_page():
    from django.test import RequestFactory

    from config.error_views import server_error

    try:
        raise RuntimeError("a bug")
    except RuntimeError:
        response = server_error(RequestFactory().get("/keys/"))
    assert response.status_code == 500
    assert "Retry-After" not in response
    assert "Something went wrong" in response.content.decode()
