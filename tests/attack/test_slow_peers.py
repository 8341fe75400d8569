"""Image fetches and webhook posts against peers that drip, stall or redirect slowly.

Every peer here would hold a naive client for ever (or for minutes); the one deadline per
exchange must stop each of them with a clear FetchFailed.
"""

from __future__ import annotations

import pytest

from lib import netfetch
from lib.netfetch import FetchFailed
from tests.attack.peers import (
    drip_body,
    drip_headers,
    hostile_server,
    read_request,
    run_bounded,
    slow_redirect,
    stall_after_connect,
)
from tests.restoration.conftest import LOCALHOST

DEADLINE_S = 1.0
# Generous: ten times the deadline, so only a missing bound (a hang) fails the test.
BOUND_S = 10 * DEADLINE_S


@pytest.fixture(autouse=True)
def _allow_localhost(settings):
    settings.OUTBOUND_ALLOWED_NETWORKS = [LOCALHOST]


def _fetch(url: str):
    return lambda: netfetch.fetch_public_bytes(url, max_bytes=1_000_000, timeout=DEADLINE_S)


def _post(url: str):
    return lambda: netfetch.post_public_json(url, body=b"{}", headers={}, timeout=DEADLINE_S)


@pytest.mark.parametrize("behaviour", [drip_headers, drip_body, stall_after_connect], ids=lambda b: b.__name__)
def test_an_image_fetch_from_a_slow_peer_ends_at_the_deadline(behaviour):
    with hostile_server(behaviour) as base:
        outcome = run_bounded(_fetch(base + "/face.png"), within_s=BOUND_S)
    assert isinstance(outcome.get("error"), FetchFailed), outcome
    assert "did not answer in time" in str(outcome["error"])


def test_a_chain_of_slow_redirects_shares_one_deadline():
    # Each hop takes 0.4 s (well inside 1 s); four of them do not fit.
    with hostile_server(slow_redirect(0.4, "/next")) as base:
        outcome = run_bounded(_fetch(base + "/start"), within_s=BOUND_S)
    assert isinstance(outcome.get("error"), FetchFailed), outcome
    assert "did not answer in time" in str(outcome["error"])


@pytest.mark.parametrize("behaviour", [drip_headers, stall_after_connect], ids=lambda b: b.__name__)
def test_a_webhook_post_to_a_slow_receiver_ends_at_the_deadline(behaviour):
    with hostile_server(behaviour) as base:
        outcome = run_bounded(_post(base + "/hook"), within_s=BOUND_S)
    assert isinstance(outcome.get("error"), FetchFailed), outcome
    assert "did not answer in time" in str(outcome["error"])


def test_a_receiver_dripping_its_body_still_counts_by_its_status():
    """The status line came in time; the body a receiver drips after it is cut, not waited for."""

    def status_then_drip(conn, release):
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
        while not release.wait(0.1):
            conn.sendall(b"x")

    with hostile_server(status_then_drip) as base:
        outcome = run_bounded(_post(base + "/hook"), within_s=BOUND_S)
    status_code, _latency_ms = outcome["value"]
    assert status_code == 200


def test_endless_headers_are_refused_by_count_even_when_fast():
    def header_flood(conn, release):
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(500)) + b"\r\n")
        release.wait(5)

    with hostile_server(header_flood) as base:
        outcome = run_bounded(_fetch(base + "/face.png"), within_s=BOUND_S)
    assert isinstance(outcome.get("error"), FetchFailed), outcome
