"""The cheap checks come before the expensive intake: an organization that cannot pay never
makes the server fetch (or decode) an image, and one organization cannot have more than its
share of image fetches in flight."""

from __future__ import annotations

import base64
import threading
from types import SimpleNamespace

import pytest
from django.core.cache import cache

from billing.models import Wallet
from billing.services import wallet_adjust
from lib.slots import NoSlotFree, concurrency_slot
from restoration.errors import TooManyFetches
from restoration.intake import image_from_url
from tests.attack.peers import hostile_server, stall_after_connect
from tests.restoration.conftest import GENERATE_URL, LOCALHOST, PROCESS_URL, png_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _allow_localhost(settings):
    settings.OUTBOUND_ALLOWED_NETWORKS = [LOCALHOST]


def _counting_server():
    """A peer that stalls every connection and counts them."""
    connections = []

    def behaviour(conn, release):
        connections.append(conn)
        stall_after_connect(conn, release)

    return hostile_server(behaviour), connections


def _drain(org) -> None:
    """Spend the whole balance through the ledger (the money still reconciles afterwards)."""
    available = Wallet.objects.get(organization=org).available
    wallet_adjust(organization=org, amount=-available, idempotency_key=f"drain:{org.id}", description="test: drained")


def test_an_unfunded_organization_gets_402_before_its_image_url_is_fetched(customer, client, nothing_created):
    _drain(customer.org)
    guard = nothing_created()
    server, connections = _counting_server()
    with server as base:
        response = client.post(GENERATE_URL, {"image": base + "/face.png"}, format="json")
    assert response.status_code == 402, response.content
    assert response.json()["error"] == "Insufficient Balance"
    assert connections == []  # the slow server was never contacted
    guard.assert_unchanged()


def test_the_demo_api_refuses_an_unfunded_organization_before_decoding(customer, client, nothing_created):
    _drain(customer.org)
    guard = nothing_created()
    body = {"image_base64": base64.b64encode(png_bytes()).decode()}
    response = client.post(PROCESS_URL, body, format="json")
    assert response.status_code == 402, response.content
    assert response.json()["status"] == "error"
    guard.assert_unchanged()


def test_an_organization_past_its_fetch_cap_gets_429_without_a_fetch(customer, client, settings, nothing_created):
    settings.IMAGE_FETCHES_PER_ORGANIZATION = 1
    guard = nothing_created()
    server, connections = _counting_server()
    with server as base, concurrency_slot(f"image-fetch:{customer.org.pk}", limit=1, ttl_s=30):
        # The one slot is taken (as by a fetch from a slow peer in another web worker).
        response = client.post(GENERATE_URL, {"image": base + "/face.png"}, format="json")
    assert response.status_code == 429, response.content
    assert response["Retry-After"]
    assert "image URLs being fetched" in response.json()["message"]
    assert connections == []
    guard.assert_unchanged()


def test_the_fetch_cap_is_per_organization_and_freed_after_the_fetch(customer, outsider, settings, local_server):
    settings.IMAGE_FETCHES_PER_ORGANIZATION = 1
    url = local_server.serve("/face.png", png_bytes())
    with concurrency_slot(f"image-fetch:{customer.org.pk}", limit=1, ttl_s=30):
        # Another organization is not held back by the customer's full cap.
        response = outsider.client().post(GENERATE_URL, {"image": url}, format="json")
        assert response.status_code == 202, response.content
    # The slot is free again once the holder is done.
    response = customer.client().post(GENERATE_URL, {"image": url}, format="json")
    assert response.status_code == 202, response.content
    assert cache.get(f"slot:image-fetch:{customer.org.pk}") == 0


def test_a_failed_fetch_gives_its_slot_back(settings, local_server):
    settings.IMAGE_FETCHES_PER_ORGANIZATION = 1
    org = SimpleNamespace(pk="slot-test")
    url = local_server.serve("/missing.png", b"", status=404)
    for _ in range(3):  # would answer 429 from the second try on if the slot leaked
        with pytest.raises(Exception) as failed:
            image_from_url(url, organization=org)
        assert not isinstance(failed.value, TooManyFetches)


def test_slots_admit_exactly_the_limit_under_contention():
    admitted, refused = [], []
    inside = threading.Barrier(3, timeout=10)

    def take():
        try:
            with concurrency_slot("contended", limit=3, ttl_s=30):
                admitted.append(1)
                inside.wait()  # hold the slot until all three admitted threads are in
        except NoSlotFree:
            refused.append(1)

    threads = [threading.Thread(target=take) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=15)
    with concurrency_slot("contended", limit=3, ttl_s=30):
        pass  # all three gave their slots back
    assert len(admitted) == 3 and refused == []
    with concurrency_slot("contended", limit=1, ttl_s=30), pytest.raises(NoSlotFree):  # noqa: SIM117
        with concurrency_slot("contended", limit=1, ttl_s=30):
            pass


def test_a_broken_counter_store_opens_the_gate(monkeypatch):
    def broken(*args, **kwargs):
        raise ConnectionError("cache down")

    monkeypatch.setattr(cache, "add", broken)
    with concurrency_slot("broken", limit=1, ttl_s=30), concurrency_slot("broken", limit=1, ttl_s=30):
        pass  # both admitted: a dead cache must not refuse every fetch


@pytest.mark.parametrize(
    ("url", "upscale_field", "style"), [(GENERATE_URL, "upscale", "gateway"), (PROCESS_URL, "upscale", "demo")]
)
def test_an_output_over_the_cap_is_a_400_naming_the_largest_upscale(
    client, settings, nothing_created, url, upscale_field, style
):
    settings.MAX_OUTPUT_PIXELS = 48 * 40 * 4  # the 48x40 image fits at 2x, not at 4x
    guard = nothing_created()
    body = {"image_base64": base64.b64encode(png_bytes(48, 40)).decode(), upscale_field: 4}
    response = client.post(url, body, format="json")
    assert response.status_code == 400, response.content
    data = response.json()
    assert "the largest upscale allowed for this image is 2" in data["message"]
    assert data["max_upscale"] == 2
    assert ("error" in data) if style == "gateway" else (data["status"] == "error")
    guard.assert_unchanged()
