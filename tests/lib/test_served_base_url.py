"""Links sent without a request (billing notices, owners' notices, webhooks of old jobs) name the
server: PUBLIC_BASE_URL, else the origin a job recorded, else where runservice serves."""

from __future__ import annotations

import pytest

from jobs.management.commands.runservice import served_origin
from lib.base_url import stored_base_url


@pytest.mark.parametrize(
    ("addrport", "origin"),
    [
        ("127.0.0.1:8101", "http://127.0.0.1:8101"),
        ("8101", "http://127.0.0.1:8101"),
        ("localhost:9000", "http://localhost:9000"),
        ("[::1]:8000", "http://[::1]:8000"),
        ("0.0.0.0:8000", ""),  # a wildcard: its public name is unknown here
        ("[::]:8000", ""),
    ],
)
def test_the_origin_runservice_is_reached_at(addrport, origin):
    assert served_origin(addrport) == origin


def test_a_link_without_a_request_prefers_the_configured_then_recorded_then_served_origin(settings):
    settings.PUBLIC_BASE_URL = ""
    settings.SERVED_BASE_URL = "http://127.0.0.1:8101"
    assert stored_base_url("") == "http://127.0.0.1:8101"
    assert stored_base_url("https://api.example.com") == "https://api.example.com"
    settings.PUBLIC_BASE_URL = "https://restore.example.com"
    assert stored_base_url("https://api.example.com") == "https://restore.example.com"
    settings.PUBLIC_BASE_URL = ""
    settings.SERVED_BASE_URL = ""
    assert stored_base_url("") == "http://localhost:8000"


@pytest.mark.django_db
def test_a_billing_notice_links_the_wallet_where_the_embedded_server_runs(settings):
    from billing.notify import email_text
    from tests.accounts.factories import OrganizationFactory, UserFactory

    org = OrganizationFactory(name="Acme Photos", owner=UserFactory(username="olivia"))
    settings.PUBLIC_BASE_URL = ""
    settings.SERVED_BASE_URL = "http://127.0.0.1:8101"
    assert "http://127.0.0.1:8101/wallet/" in email_text(org.id, "Your balance is low.")
