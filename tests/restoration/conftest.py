"""Fixtures of the API tests: a customer and an outsider with keys, images, a local HTTP server.

Money and rows are checked through ``nothing_created``: every refused request must leave the Job
and LedgerEntry counts, the wallet and the media folder exactly as they were.
"""

from __future__ import annotations

import importlib
import io
import ipaddress
import os
import struct
import threading
import zlib
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.apps import apps as django_apps
from PIL import Image
from rest_framework.test import APIClient

from billing.models import LedgerEntry, Wallet
from jobs.models import Job
from tests.accounts.factories import OrganizationFactory, UserFactory, make_key

GENERATE_URL = "/codeformer-image-restoration/v1/codeformer/generate"
PROCESS_URL = "/api/process"
HEALTH_URL = "/api/health"
LOCALHOST = ipaddress.ip_network("127.0.0.1/32")


def png_bytes(width: int = 48, height: int = 40, color=(200, 120, 90)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, format="PNG")
    return buffer.getvalue()


def noisy_png_bytes(width: int = 64, height: int = 64) -> bytes:
    """A PNG that does not compress: about 3 bytes per pixel."""
    buffer = io.BytesIO()
    Image.frombytes("RGB", (width, height), os.urandom(width * height * 3)).save(buffer, format="PNG")
    return buffer.getvalue()


def bomb_png_bytes(width: int = 50_000, height: int = 50_000) -> bytes:
    """A small file whose header claims width x height pixels (2.5 gigapixels by default)."""
    data = bytearray(png_bytes(8, 8))
    # IHDR's data starts at byte 16: width, height, then 5 bytes; its CRC covers type + data.
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def jpeg_bytes(width: int = 48, height: int = 40) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (30, 60, 90)).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


@dataclass
class Customer:
    org: object
    key: str
    user: object
    subscription: object

    def client(self) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_OCP_APIM_SUBSCRIPTION_KEY=self.key)
        return client


@pytest.fixture
def seeded(db):
    """The default plan and price table of billing migration 0002. A transactional test (the
    demo tests run a real worker) flushes every table, seeded rows included, so re-seed."""
    from tests.conftest import SEED_MIGRATIONS

    for migration in SEED_MIGRATIONS:
        importlib.import_module(migration).seed(django_apps, None)


@pytest.fixture
def customer(seeded) -> Customer:
    user = UserFactory(username="api-owner")
    org = OrganizationFactory(name="Acme Photos", owner=user, initial_credit=1000)
    subscription, key = make_key(org)
    return Customer(org=org, key=key, user=user, subscription=subscription)


@pytest.fixture
def outsider(seeded) -> Customer:
    """Another organization: it must never see or touch the customer's requests."""
    user = UserFactory(username="api-outsider")
    org = OrganizationFactory(name="Other Corp", owner=user, initial_credit=1000)
    subscription, key = make_key(org)
    return Customer(org=org, key=key, user=user, subscription=subscription)


@pytest.fixture
def client(customer) -> APIClient:
    return customer.client()


@pytest.fixture
def anonymous() -> APIClient:
    return APIClient()


@dataclass(frozen=True)
class Snapshot:
    jobs: int
    ledger: int
    wallets: tuple
    files: tuple


def _snapshot(media_root: Path) -> Snapshot:
    return Snapshot(
        jobs=Job.objects.count(),
        ledger=LedgerEntry.objects.count(),
        wallets=tuple(Wallet.objects.order_by("id").values_list("id", "balance", "held")),
        files=tuple(sorted(str(p.relative_to(media_root)) for p in media_root.rglob("*") if p.is_file())),
    )


@pytest.fixture
def nothing_created(_media_root):
    """Call it before a bad request, then ``.assert_unchanged()`` after."""

    class Guard:
        def __init__(self):
            self.before = _snapshot(Path(_media_root))

        def assert_unchanged(self):
            assert _snapshot(Path(_media_root)) == self.before

    return Guard


# --- a real HTTP server on 127.0.0.1 ------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    routes: dict = {}

    def do_GET(self):
        route = self.routes.get(self.path.split("?")[0])
        if route is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        status, headers, body = route
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if "Content-Length" not in headers:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@dataclass
class LocalServer:
    base: str
    routes: dict

    def serve(self, path: str, body: bytes = b"", *, status: int = 200, headers: dict | None = None) -> str:
        self.routes[path] = (status, headers or {"Content-Type": "image/png"}, body)
        return self.base + path

    def redirect(self, path: str, location: str, *, status: int = 302) -> str:
        self.routes[path] = (status, {"Location": location}, b"")
        return self.base + path


@pytest.fixture
def local_server(settings):
    """An http.server on 127.0.0.1, reachable because the test allows 127.0.0.1/32 only."""
    routes: dict = {}
    handler = type("Handler", (_Handler,), {"routes": routes})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.OUTBOUND_ALLOWED_NETWORKS = [LOCALHOST]
    try:
        yield LocalServer(base=f"http://127.0.0.1:{server.server_address[1]}", routes=routes)
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def scaling_engine(settings):
    """Point the worker's engine at the small test engine (and forget it afterwards)."""
    from jobs.engine import reset_engine
    from tests.jobs.engines import FakeEngine

    settings.RESTORATION_ENGINE = "tests.jobs.engines.FakeEngine"
    reset_engine()
    FakeEngine.reset()
    yield FakeEngine
    FakeEngine.reset()
    reset_engine()
