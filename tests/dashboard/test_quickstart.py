"""The quick-start page: both APIs as code against this deployment's base URL; right after a key
is created, the same guide with that key filled in."""

from __future__ import annotations

import html

import pytest
from django.urls import reverse

from accounts.models import ApiKey, Subscription
from tests.dashboard.test_keys import KEY

pytestmark = pytest.mark.django_db

BASE = "https://restore.example.com"


def test_the_quick_start_shows_both_apis_status_and_stream_against_the_public_base_url(teammate_client, settings):
    settings.PUBLIC_BASE_URL = BASE
    response = teammate_client.get(reverse("dashboard:quickstart"))
    assert response.status_code == 200
    body = html.unescape(response.content.decode())
    assert f"{BASE}/codeformer-image-restoration/v1/codeformer/generate" in body
    assert f"{BASE}/api/process" in body
    assert f"{BASE}/v2/requests/status/REQUEST_ID" in body
    assert f"{BASE}/v2/requests/status/REQUEST_ID/stream" in body
    assert body.count('data-lang="curl"') == 3  # gateway, demo, status/stream
    for language in ("python", "javascript"):
        assert body.count(f'data-lang="{language}"') == 4  # and verifying a webhook
    assert 'Webhook(os.environ["CODEFORMER_WEBHOOK_SECRET"])' in body
    # No key is ever printed here: the code reads it from the environment.
    assert not KEY.findall(body)
    assert 'os.environ["CODEFORMER_KEY"]' in body and "process.env.CODEFORMER_KEY" in body
    # Every snippet has its copy button, and so has the base URL.
    assert body.count("data-copy-target=") == 11 + 2
    assert 'aria-current="page">Quick start</a>' in body


def test_the_quick_start_uses_the_host_the_client_reached_without_a_public_base_url(teammate_client, settings):
    settings.PUBLIC_BASE_URL = ""
    body = html.unescape(teammate_client.get(reverse("dashboard:quickstart")).content.decode())
    assert "http://testserver/api/process" in body


def test_right_after_creating_a_key_the_quick_start_carries_it(owner_client, org, settings):
    settings.PUBLIC_BASE_URL = BASE
    response = owner_client.post(reverse("dashboard:key_create"), {"name": "first integration"})
    body = html.unescape(response.content.decode())
    subscription = Subscription.objects.get(organization=org, name="first integration")
    primary = next(key for key in KEY.findall(body) if key.startswith(f"cf_{_prefix(subscription, 'primary')}_"))
    assert f"Ocp-Apim-Subscription-Key: {primary}" in body  # curl
    assert f"KEY = {primary!r}" in body  # Python
    assert f'const KEY = "{primary}";' in body  # JavaScript
    assert f"{BASE}/codeformer-image-restoration/v1/codeformer/generate" in body
    assert f"{BASE}/api/process" in body
    assert 'os.environ["CODEFORMER_KEY"]' not in body
    # The key itself has a copy button next to it.
    assert f'data-copy="{primary}"' in body


def test_a_member_sees_the_quick_start_but_an_anonymous_visitor_is_sent_to_log_in(client, org):
    response = client.get(reverse("dashboard:quickstart"))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def _prefix(subscription, slot: str) -> str:
    return ApiKey.objects.get(subscription=subscription, slot=slot, revoked_at__isnull=True).prefix
