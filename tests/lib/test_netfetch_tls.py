"""https through a vetted IP: the connection goes to the address we checked, yet the
certificate is still verified against the URL's host name (SNI + hostname check)."""

from __future__ import annotations

import socket
import ssl
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from lib import netfetch
from lib.netfetch import FetchFailed
from tests.restoration.conftest import LOCALHOST, png_bytes

HOST = "photos.example.test"


def _openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def certificates(tmp_path_factory):
    """A throw-away CA and a server certificate for HOST, made with the openssl CLI."""
    folder = tmp_path_factory.mktemp("tls")
    _openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=Test CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
        cwd=folder,
    )
    _openssl(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "leaf.key",
        "-out",
        "leaf.csr",
        "-subj",
        f"/CN={HOST}",
        cwd=folder,
    )
    (folder / "leaf.ext").write_text(
        f"subjectAltName=DNS:{HOST}\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n"
    )
    _openssl(
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "leaf.pem",
        "-days",
        "2",
        "-extfile",
        "leaf.ext",
        cwd=folder,
    )
    return folder


@pytest.fixture
def tls_server(certificates, settings, monkeypatch):
    body = png_bytes()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificates / "leaf.pem", certificates / "leaf.key")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    settings.OUTBOUND_ALLOWED_NETWORKS = [LOCALHOST]
    real = socket.getaddrinfo
    # Both names resolve to the local server; only HOST is on its certificate.
    monkeypatch.setattr(
        socket,
        "getaddrinfo",
        lambda host, *a, **k: (
            [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]
            if host in (HOST, "other.example.test")
            else real(host, *a, **k)
        ),
    )
    yield port, body
    server.shutdown()
    server.server_close()


def test_https_to_a_vetted_ip_verifies_the_certificate_for_the_host_name(tls_server, certificates, monkeypatch):
    port, body = tls_server
    monkeypatch.setenv("SSL_CERT_FILE", str(certificates / "ca.pem"))
    fetched = netfetch.fetch_public_bytes(f"https://{HOST}:{port}/face.png", max_bytes=100_000, timeout=5)
    assert fetched.data == body


def test_a_certificate_for_another_name_is_refused(tls_server, certificates, monkeypatch):
    port, _body = tls_server
    monkeypatch.setenv("SSL_CERT_FILE", str(certificates / "ca.pem"))
    with pytest.raises(FetchFailed, match="TLS certificate not valid for the host"):
        netfetch.fetch_public_bytes(f"https://other.example.test:{port}/face.png", max_bytes=100_000, timeout=5)


def test_an_untrusted_certificate_is_refused(tls_server, tmp_path, monkeypatch):
    port, _body = tls_server
    empty = tmp_path / "empty.pem"
    empty.write_text("")
    monkeypatch.setenv("SSL_CERT_FILE", str(empty))
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path))
    with pytest.raises(FetchFailed, match="TLS certificate"):
        netfetch.fetch_public_bytes(f"https://{HOST}:{port}/face.png", max_bytes=100_000, timeout=5)
