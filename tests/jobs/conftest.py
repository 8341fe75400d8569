"""Fixtures for the job flow: organizations with money, a real image, the test engine, a real
Dramatiq worker on the Redis test broker, and a real local HTTP receiver for webhooks."""

from __future__ import annotations

import importlib
import io
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import ip_network

import dramatiq
import pytest
from django.apps import apps as django_apps
from django.db import connection
from PIL import Image

import jobs.actors  # noqa: F401 - declares the actors (and their queues) on the broker
from jobs.engine import reset_engine
from jobs.types import ImageInput, JobParams
from tests.accounts.factories import OrganizationFactory
from tests.jobs.engines import FakeEngine

FAKE_ENGINE = "tests.jobs.engines.FakeEngine"
# Default prices: restore_base 10 (+ upscale steps above 2x); see billing migration 0002.
PLAIN = JobParams(upscale=2, background_enhance=False, face_upsample=False)
PLAIN_PRICE = 10


def png_bytes(width: int = 24, height: int = 16) -> bytes:
    image = Image.new("RGB", (width, height))
    image.putdata([((x * 10) % 256, (y * 15) % 256, 128) for y in range(height) for x in range(width)])
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def image_input(width: int = 24, height: int = 16, data: bytes | None = None, name: str = "face.png") -> ImageInput:
    return ImageInput(
        data=data if data is not None else png_bytes(width, height), name=name, width=width, height=height, format="PNG"
    )


@pytest.fixture(autouse=True)
def price_table(request):
    """Re-seed the default plan and price table (billing migration 0002): a transactional test
    before this one flushed every table, seeded rows included."""
    if request.node.get_closest_marker("django_db") is None:
        return
    from tests.conftest import SEED_MIGRATIONS

    for migration in SEED_MIGRATIONS:
        importlib.import_module(migration).seed(django_apps, None)


@pytest.fixture(autouse=True)
def fake_engine(settings):
    settings.RESTORATION_ENGINE = FAKE_ENGINE
    reset_engine()
    FakeEngine.reset()
    yield FakeEngine
    FakeEngine.reset()
    reset_engine()


@pytest.fixture
def org(db):
    return OrganizationFactory(name="Acme", initial_credit=1000)


@pytest.fixture
def other_org(db):
    return OrganizationFactory(name="Other Corp", initial_credit=1000)


@pytest.fixture
def broker():
    broker = dramatiq.get_broker()
    broker.flush_all()
    return broker


@pytest.fixture
def worker(broker):
    """A real in-process Dramatiq worker consuming every queue of the Redis test broker."""
    worker = dramatiq.Worker(broker, worker_timeout=100, worker_threads=2)
    worker.start()
    yield worker
    worker.stop()
    broker.flush_all()
    connection.close()


class Receiver:
    """A real HTTP server on 127.0.0.1 recording each request; answers from ``statuses`` in
    turn (the last one repeats)."""

    def __init__(self, statuses: list[int] | None = None):
        self.statuses = list(statuses or [200])
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        self.arrived = threading.Condition(self.lock)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver.lock:
                    status = receiver.statuses[min(len(receiver.requests), len(receiver.statuses) - 1)]
                    receiver.requests.append(
                        {
                            "path": self.path,
                            "headers": dict(self.headers.items()),
                            "header_lines": list(self.headers.items()),  # repeats included
                            "body": body,
                            "status": status,
                        }
                    )
                    receiver.arrived.notify_all()
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def wait_for(self, count: int, timeout: float = 30) -> list[dict]:
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.requests) >= count, timeout=timeout)
            return list(self.requests)

    def events(self) -> list[str]:
        return [json.loads(r["body"])["status"] for r in self.requests]


@pytest.fixture
def receiver_factory(settings):
    settings.OUTBOUND_ALLOWED_NETWORKS = [ip_network("127.0.0.1/32")]
    made: list[Receiver] = []

    def make(statuses: list[int] | None = None) -> Receiver:
        receiver = Receiver(statuses)
        receiver.thread.start()
        made.append(receiver)
        return receiver

    yield make
    for receiver in made:
        receiver.server.shutdown()
        receiver.server.server_close()


@pytest.fixture
def receiver(receiver_factory):
    return receiver_factory([200])


def wait_until(predicate, *, timeout: float = 60, interval: float = 0.05):
    """Poll ``predicate`` until it returns something truthy (work happening on other threads);
    fails the test if it never does. Not a timing assertion: the limit only bounds a hang."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout}s")
        time.sleep(interval)


@pytest.fixture(params=["one statement", "separate statements"])
def admission_path(request, monkeypatch):
    """Run the test on both ways an admission is written: PostgreSQL's single WITH statement and
    the separate statements in a transaction that SQLite (``make run``) takes."""
    if request.param == "separate statements":
        monkeypatch.setattr("billing.services.one_statement_holds", lambda connection: False)
    return request.param
