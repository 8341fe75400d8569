"""SSRF protection and the limits of server-side fetching, against a real local HTTP server."""

from __future__ import annotations

import ipaddress
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from lib import netfetch
from lib.netfetch import FetchFailed, ResponseTooLarge, UnsafeURL
from tests.restoration.conftest import LOCALHOST, png_bytes

BLOCKED_URLS = [
    "http://127.0.0.1/",
    "http://localhost/",
    "http://10.1.2.3/image.png",
    "http://172.16.0.5/",
    "http://192.168.1.1/",
    "http://169.254.169.254/latest/meta-data/",
    "http://[::1]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:10.0.0.1]/",
    "http://[::ffff:169.254.169.254]/",
    "http://[64:ff9b::a00:1]/",  # NAT64 spelling of 10.0.0.1
    "http://[fd00:ec2::254]/",
    "http://[fe80::1]/",
    "http://2130706433/",  # decimal 127.0.0.1
    "http://0x7f000001/",  # hexadecimal 127.0.0.1
    "http://0177.0.0.1/",  # octal 127.0.0.1
    "http://0.0.0.0/",
    "http://100.64.0.1/",  # carrier-grade NAT
    "http://100.100.100.200/",  # Alibaba Cloud metadata
    "http://168.63.129.16/",  # Azure wire server, in public space
    "http://224.0.0.1/",
    "http://240.0.0.1/",
]


@pytest.mark.parametrize("url", BLOCKED_URLS)
def test_it_refuses_private_loopback_link_local_and_metadata_addresses(url):
    with pytest.raises(UnsafeURL) as caught:
        netfetch.check_public_url(url)
    assert caught.value.status_code == 400


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/a.png",
        "file:///etc/passwd",
        "gopher://example.com/",
        "http://user:pass@example.com/",
        "http:///nohost",
        "not a url",
    ],
)
def test_it_refuses_other_schemes_credentials_and_malformed_urls(url):
    with pytest.raises(UnsafeURL):
        netfetch.check_public_url(url)


def _fake_dns(monkeypatch, answers: dict[str, list[str]]):
    """Answer only the given names; everything else goes to the real resolver (local code)."""
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host in answers:
            return [
                (socket.AF_INET6 if ":" in ip else socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port))
                for ip in answers[host]
            ]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def test_it_refuses_a_hostname_that_resolves_to_a_private_address(monkeypatch):
    _fake_dns(monkeypatch, {"images.attacker.test": ["10.0.0.7"]})
    with pytest.raises(UnsafeURL):
        netfetch.check_public_url("https://images.attacker.test/face.png")


def test_it_refuses_a_hostname_with_one_private_answer_among_public_ones(monkeypatch):
    _fake_dns(monkeypatch, {"mixed.attacker.test": ["93.184.216.34", "192.168.0.10"]})
    with pytest.raises(UnsafeURL):
        netfetch.check_public_url("https://mixed.attacker.test/face.png")


def test_a_hostname_resolving_to_public_addresses_passes(monkeypatch):
    _fake_dns(monkeypatch, {"cdn.example.test": ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"]})
    netfetch.check_public_url("https://cdn.example.test/face.png")


def test_an_unresolvable_host_is_a_fetch_failure(monkeypatch):
    def getaddrinfo(host, *args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    with pytest.raises(FetchFailed):
        netfetch.check_public_url("https://no-such-host.test/face.png")


def test_loopback_is_blocked_unless_the_operator_allows_it(settings):
    with pytest.raises(UnsafeURL):
        netfetch.check_public_url("http://127.0.0.1:8080/a.png")
    settings.OUTBOUND_ALLOWED_NETWORKS = [LOCALHOST]
    netfetch.check_public_url("http://127.0.0.1:8080/a.png")
    with pytest.raises(UnsafeURL):  # the exemption is exactly the network given
        netfetch.check_public_url("http://127.0.0.2:8080/a.png")


def test_it_fetches_an_image_from_an_allowed_server(local_server):
    image = png_bytes()
    url = local_server.serve("/face.png", image)
    fetched = netfetch.fetch_public_bytes(url, max_bytes=10_000, timeout=5)
    assert fetched.data == image
    assert fetched.content_type == "image/png"
    assert fetched.final_url == url


def test_it_follows_a_redirect_between_allowed_addresses(local_server):
    image = png_bytes()
    target = local_server.serve("/final.png", image)
    start = local_server.redirect("/start", "/final.png", status=301)
    fetched = netfetch.fetch_public_bytes(start, max_bytes=10_000, timeout=5)
    assert fetched.data == image
    assert fetched.final_url == target


@pytest.mark.parametrize(
    "location",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/",
        "http://[::1]/x",
        "http://167772161/",
    ],  # the last is 10.0.0.1 in decimal
)
def test_a_redirect_to_a_blocked_address_is_refused(local_server, location):
    start = local_server.redirect("/hop", location)
    with pytest.raises(UnsafeURL):
        netfetch.fetch_public_bytes(start, max_bytes=10_000, timeout=5)


def test_a_redirect_to_a_hostname_resolving_privately_is_refused(local_server, monkeypatch):
    _fake_dns(monkeypatch, {"internal.attacker.test": ["172.20.0.2"]})
    start = local_server.redirect("/hop", "http://internal.attacker.test/secret")
    with pytest.raises(UnsafeURL):
        netfetch.fetch_public_bytes(start, max_bytes=10_000, timeout=5)


def test_redirect_chains_are_capped(local_server, settings):
    settings.IMAGE_FETCH_MAX_REDIRECTS = 2
    local_server.serve("/end.png", png_bytes())
    local_server.redirect("/r3", "/end.png")
    local_server.redirect("/r2", "/r3")
    start = local_server.redirect("/r1", "/r2")
    with pytest.raises(FetchFailed, match="redirected more than 2 times"):
        netfetch.fetch_public_bytes(start, max_bytes=10_000, timeout=5)
    settings.IMAGE_FETCH_MAX_REDIRECTS = 3
    assert netfetch.fetch_public_bytes(start, max_bytes=10_000, timeout=5).data == png_bytes()


def test_an_error_status_is_a_fetch_failure(local_server):
    with pytest.raises(FetchFailed, match="HTTP 404"):
        netfetch.fetch_public_bytes(local_server.base + "/missing.png", max_bytes=10_000, timeout=5)


def test_a_declared_size_over_the_cap_is_refused_with_413(local_server):
    url = local_server.serve("/big.png", b"x" * 5000)
    with pytest.raises(ResponseTooLarge) as caught:
        netfetch.fetch_public_bytes(url, max_bytes=4000, timeout=5)
    assert caught.value.status_code == 413


def test_an_undeclared_size_over_the_cap_is_refused_while_reading(settings):
    settings.OUTBOUND_ALLOWED_NETWORKS = [LOCALHOST]

    class Streaming(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.end_headers()  # no Content-Length: the body runs until the connection closes
            for _ in range(100):
                self.wfile.write(b"y" * 1000)

        def log_message(self, *args):
            pass

    with _serving(Streaming) as base, pytest.raises(ResponseTooLarge):
        netfetch.fetch_public_bytes(base + "/stream", max_bytes=20_000, timeout=5)


def test_a_server_that_does_not_answer_in_time_is_a_fetch_failure(settings):
    settings.OUTBOUND_ALLOWED_NETWORKS = [LOCALHOST]
    release = threading.Event()

    class Dripping(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            # A byte at a time, each well inside a per-read timeout: only a total deadline stops it.
            for _ in range(1000):
                if release.wait(0.2):
                    return
                self.wfile.write(b"z")
                self.wfile.flush()

        def log_message(self, *args):
            pass

    with _serving(Dripping) as base:
        try:
            with pytest.raises(FetchFailed, match="did not answer in time"):
                netfetch.fetch_public_bytes(base + "/drip", max_bytes=10_000, timeout=1)
        finally:
            release.set()


def test_post_public_json_posts_to_an_allowed_receiver_without_following_redirects(settings):
    settings.OUTBOUND_ALLOWED_NETWORKS = [LOCALHOST]
    received = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers["Content-Length"])
            received.append(
                (self.path, self.headers["Content-Type"], self.headers["webhook-id"], self.rfile.read(length))
            )
            status = 302 if self.path == "/moved" else 204
            self.send_response(status)
            if status == 302:
                self.send_header("Location", "http://169.254.169.254/")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    with _serving(Receiver) as base:
        status, elapsed_ms = netfetch.post_public_json(
            base + "/hook", body=b'{"a": 1}', headers={"webhook-id": "msg_1"}, timeout=5
        )
        moved_status, _ = netfetch.post_public_json(
            base + "/moved", body=b"{}", headers={"webhook-id": "msg_2"}, timeout=5
        )
    assert status == 204 and elapsed_ms >= 0
    assert moved_status == 302  # the redirect is the answer, never followed
    assert received == [
        ("/hook", "application/json", "msg_1", b'{"a": 1}'),
        ("/moved", "application/json", "msg_2", b"{}"),
    ]


def test_post_public_json_refuses_private_receivers():
    with pytest.raises(UnsafeURL):
        netfetch.post_public_json("http://10.0.0.5/hook", body=b"{}", headers={}, timeout=5)


def test_post_public_json_reports_a_refused_connection(settings):
    settings.OUTBOUND_ALLOWED_NETWORKS = [LOCALHOST]
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound but not listening: connections are refused
        with pytest.raises(FetchFailed, match="could not be reached"):
            netfetch.post_public_json(f"http://127.0.0.1:{port}/hook", body=b"{}", headers={}, timeout=5)


def test_it_connects_to_the_vetted_address_not_a_second_dns_answer(local_server, monkeypatch):
    """DNS rebinding: the first answer is vetted; a second lookup must never happen."""
    port = int(local_server.base.rsplit(":", 1)[1])
    image = png_bytes()
    local_server.serve("/face.png", image)
    lookups = []
    real = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        if host == "rebind.attacker.test":
            lookups.append(host)
            ip = "127.0.0.1" if len(lookups) == 1 else "10.9.9.9"
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port))]
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    fetched = netfetch.fetch_public_bytes(f"http://rebind.attacker.test:{port}/face.png", max_bytes=10_000, timeout=5)
    assert fetched.data == image
    assert lookups == ["rebind.attacker.test"]


def test_the_host_header_names_the_url_host(settings, monkeypatch):
    settings.OUTBOUND_ALLOWED_NETWORKS = [LOCALHOST]
    seen = []

    class Echo(BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append(self.headers["Host"])
            body = png_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    with _serving(Echo) as base:
        port = int(base.rsplit(":", 1)[1])
        real = socket.getaddrinfo
        monkeypatch.setattr(
            socket,
            "getaddrinfo",
            lambda host, *a, **k: (
                [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]
                if host == "photos.example.test"
                else real(host, *a, **k)
            ),
        )
        netfetch.fetch_public_bytes(f"http://photos.example.test:{port}/a.png", max_bytes=10_000, timeout=5)
    assert seen == [f"photos.example.test:{port}"]


class _serving:
    def __init__(self, handler):
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True

    def __enter__(self) -> str:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def test_a_mapped_metadata_address_is_blocked_and_a_public_one_allowed():
    assert not netfetch._is_allowed(ipaddress.ip_address("::ffff:169.254.169.254"))
    assert netfetch._is_allowed(ipaddress.ip_address("8.8.8.8"))


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://127.0.0.1:8199/hook", "http://127.0.0.1:8199/hook"),
        ("http://[::1]:8080/a", "http://[::1]:8080/a"),
        ("https://user:secret@10.0.0.1/x?token=abc", "https://10.0.0.1/x"),
    ],
)
def test_a_refusal_names_the_url_with_its_port_but_without_secrets(url, shown):
    with pytest.raises(UnsafeURL) as refused:
        netfetch.check_public_url(url)
    # Credentials are refused on their own grounds; the message never repeats them.
    assert "secret" not in str(refused.value) and "token" not in str(refused.value)
    if "@" not in url:
        assert f"{shown} points to an address the server may not reach." == str(refused.value)
