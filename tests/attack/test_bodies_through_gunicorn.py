"""Oversized, chunked and deeply nested bodies sent to a real gunicorn, in the production shape
(DJANGO_DEBUG off), over real sockets: a declared size over the endpoint's limit is refused
before any byte of the body is sent, a chunked body is read (bounded) and not silently dropped,
and JSON nested past the limit is a 400, not a 500.

gunicorn runs as a child process on this test's own database (a transactional test, so it sees
the key made here) and Redis; it gets the test's API key pepper so the key authenticates there.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from jobs.models import Job
from restoration.api.base import request_body_limit
from restoration.api.parsers import MAX_JSON_DEPTH
from tests.accounts.factories import OrganizationFactory, UserFactory, make_key
from tests.attack.redis_server import free_port
from tests.restoration.conftest import GENERATE_URL, PROCESS_URL, png_bytes

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]
MAX_UPLOAD_BYTES = 64 * 1024  # the server's limit: small, so "over the limit" is cheap to send
START_BOUND_S = 60


@dataclass
class Customer:
    org: object
    key: str


@pytest.fixture
def customer() -> Customer:
    org = OrganizationFactory(name="Acme Photos", owner=UserFactory(username="gunicorn-owner"), initial_credit=1000)
    return Customer(org=org, key=make_key(org)[1])


def server_limit() -> int:
    """generate's body limit on the server, which runs with MAX_UPLOAD_BYTES."""
    return request_body_limit(images=1) + (-(-MAX_UPLOAD_BYTES // 3) * 4) - (-(-settings.MAX_UPLOAD_BYTES // 3) * 4)


@pytest.fixture(scope="module")
def access_log(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("gunicorn-log") / "access.log"


@pytest.fixture(scope="module")
def gunicorn(django_db_setup, django_db_blocker, tmp_path_factory, access_log):
    """A gunicorn child on 127.0.0.1 serving config.wsgi against this run's test database (one
    for the module: starting it is the slow part)."""
    with django_db_blocker.unblock():
        db = dict(connection.settings_dict)
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "SECURE_"))},
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "SECRET_KEY": "gunicorn-attack-test-secret-key-of-some-length-0123456789",
        "API_KEY_PEPPER": settings.API_KEY_PEPPER,
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "false",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "DB_CONN_MAX_AGE": "0",
        "REDIS_URL": settings.REDIS_URL,
        "DRAMATIQ_NAMESPACE": settings.DRAMATIQ_BROKER["OPTIONS"].get("namespace", "codeformer-test"),
        "MEDIA_ROOT": str(tmp_path_factory.mktemp("gunicorn-media")),
        "MAX_UPLOAD_BYTES": str(MAX_UPLOAD_BYTES),
        "RESTORATION_ENGINE": "tests.jobs.engines.FakeEngine",
        "COMMERCIAL_DEPLOYMENT": "false",  # production settings, but nothing here is sold
    }
    if db.get("PASSWORD"):
        env["PGPASSWORD"] = db["PASSWORD"]
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "gunicorn", "config.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "1"),
            *("--access-logfile", str(access_log)),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_until_listening(port, process)
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _wait_until_listening(port: int, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + START_BOUND_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"gunicorn exited: {process.stdout.read().decode(errors='replace')[-2000:]}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/api/health")
            conn.getresponse().read()
            conn.close()
            return
        except OSError:
            time.sleep(0.2)
    pytest.fail("gunicorn did not start listening")


def _connection(port: int) -> http.client.HTTPConnection:
    return http.client.HTTPConnection("127.0.0.1", port, timeout=30)


def _answer(conn: http.client.HTTPConnection) -> tuple[int, dict]:
    response = conn.getresponse()
    return response.status, json.loads(response.read() or b"{}")


def test_a_declared_size_over_the_limit_is_refused_before_the_body_is_sent(gunicorn, customer):
    limit = server_limit()
    conn = _connection(gunicorn)
    conn.putrequest("POST", GENERATE_URL)
    conn.putheader("Ocp-Apim-Subscription-Key", customer.key)
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Content-Length", str(200 * 1024 * 1024))
    conn.endheaders()  # headers only: not one byte of the 200 MB follows
    status, body = _answer(conn)
    assert status == 413
    assert body["error"] == "Payload Too Large" and f"{limit:,}" in body["message"]
    assert Job.objects.count() == 0


def _send_chunked(conn, url: str, key: str, chunks, content_type: str = "application/json") -> None:
    conn.putrequest("POST", url)
    conn.putheader("Ocp-Apim-Subscription-Key", key)
    conn.putheader("Content-Type", content_type)
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    try:
        for chunk in chunks:
            conn.send(f"{len(chunk):X}\r\n".encode() + chunk + b"\r\n")
        conn.send(b"0\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server answered and closed before the rest was sent


def test_a_chunked_body_is_read_and_accepted(gunicorn, customer):
    body = json.dumps({"image_base64": base64.b64encode(png_bytes(30, 20)).decode(), "upscale": 1}).encode()
    conn = _connection(gunicorn)
    _send_chunked(conn, GENERATE_URL, customer.key, [body[i : i + 1000] for i in range(0, len(body), 1000)])
    status, answer = _answer(conn)
    assert status == 202, answer
    job = Job.objects.get()
    assert job.request_id == answer["request_id"]
    assert job.organization == customer.org
    assert (job.input_width, job.input_height) == (30, 20)


def test_a_chunked_body_over_the_limit_is_a_413(gunicorn, customer):
    # Just over the limit: what the server leaves unread stays under what gunicorn drains
    # before closing, so the answer is not cut off by a reset.
    body = json.dumps({"image_base64": "A" * (server_limit() + 16 * 1024)}).encode()
    conn = _connection(gunicorn)
    _send_chunked(conn, GENERATE_URL, customer.key, [body[i : i + 8192] for i in range(0, len(body), 8192)])
    status, answer = _answer(conn)
    assert status == 413
    assert answer["error"] == "Payload Too Large"
    assert Job.objects.count() == 0


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 50_000])  # 100 kB: under generate's limit here
@pytest.mark.parametrize(("url", "shape"), [(GENERATE_URL, "error"), (PROCESS_URL, "status")])
def test_deeply_nested_json_is_a_400_in_the_endpoints_shape(gunicorn, customer, depth, url, shape):
    raw = ("[" * depth + "]" * depth).encode()
    conn = _connection(gunicorn)
    conn.request(
        "POST", url, body=raw, headers={"Ocp-Apim-Subscription-Key": customer.key, "Content-Type": "application/json"}
    )
    status, answer = _answer(conn)
    assert status == 400
    assert shape in answer and f"nested more than {MAX_JSON_DEPTH} levels" in answer["message"]
    assert Job.objects.count() == 0


def test_the_access_log_never_holds_a_subscription_key(gunicorn, customer, access_log):
    """gunicorn.conf.py's logger: a key in the query string (how EventSource sends one), in the
    referrer or in a header is not written to the access log; its public prefix is."""
    prefix = customer.key.split("_")[1]
    secret = customer.key.split("_", 2)[2]
    conn = _connection(gunicorn)
    conn.request(
        "GET",
        f"/v2/requests?subscription-key={customer.key}",
        headers={"Referer": f"http://127.0.0.1/docs?subscription-key={customer.key}"},
    )
    status, _ = _answer(conn)
    assert status == 200
    conn.request("GET", "/v2/requests?subscription-key=not-a-key-but-still-private")
    assert _answer(conn)[0] == 401
    deadline = time.monotonic() + 10
    while access_log.read_text().count("/v2/requests?") < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    written = access_log.read_text()
    assert f"subscription-key=cf_{prefix}_[redacted]" in written
    assert "subscription-key=[redacted]" in written
    assert secret not in written and "not-a-key-but-still-private" not in written
