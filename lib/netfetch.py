"""Fetching and posting to client-given URLs without letting clients reach our own network (SSRF).

A URL must be http(s), carry no credentials, and every address its host resolves to must be
public: loopback, private, link-local, shared (CGNAT), multicast, reserved, unspecified and cloud
metadata addresses are refused, also when hidden in an IPv4-mapped, NAT64, 6to4 or Teredo IPv6
address or in a numeric spelling such as ``http://2130706433/`` (the resolver expands those).

The connection goes to the address we vetted, never to a second DNS answer (DNS rebinding), with
the Host header and, for https, the TLS server name set to the URL's host so the certificate is
still checked against the name. Redirects are followed by hand and every hop is vetted again.
Size and total time are capped: one deadline for the whole exchange (name lookup, connect, TLS,
headers, body, every redirect hop), enforced by shutting the socket down when it passes, so a
peer that drips bytes cannot stretch it.

``settings.OUTBOUND_ALLOWED_NETWORKS`` exempts networks (tests add 127.0.0.1/32 for a local
server; production leaves it empty).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import http.client
import ipaddress
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

from django.conf import settings

from config.errors import BadRequest, PayloadTooLarge

__all__ = [
    "FetchFailed",
    "FetchedResource",
    "OutboundURLError",
    "PostAnswer",
    "ResponseTooLarge",
    "UnsafeURL",
    "check_public_url",
    "fetch_public_bytes",
    "post_public_json",
    "post_public_json_answer",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

USER_AGENT = "codeformer-service/1.0 (+image fetcher)"
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
READ_CHUNK = 64 * 1024
# A webhook receiver's answer is only logged; there is no reason to read more of it.
WEBHOOK_RESPONSE_CAP = 64 * 1024
# check_public_url's bound on the name lookup (fetches and posts use their own deadline).
DNS_TIMEOUT_S = 5.0
_RESOLVER = concurrent.futures.ThreadPoolExecutor(max_workers=8, thread_name_prefix="netfetch-dns")

# Addresses of cloud metadata services. Most are link-local or private already; Azure's wire
# server (168.63.129.16) is in public address space and must be named.
CLOUD_METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "169.254.170.2", "168.63.129.16", "100.100.100.200", "fd00:ec2::254")
)
NAT64_PREFIX = ipaddress.ip_network("64:ff9b::/96")


# --- errors: ApplicationErrors, so a view that lets one through answers in its own error shape ---


class OutboundURLError(BadRequest):
    """Base of the errors raised while the server fetches or posts to a client-given URL."""


class UnsafeURL(OutboundURLError):
    """The URL points at something the server must not reach (SSRF protection)."""

    default_message = "The URL is not allowed."


class FetchFailed(OutboundURLError):
    """The URL did not answer, answered with an error, or redirected too often."""

    default_message = "The URL could not be fetched."


class ResponseTooLarge(PayloadTooLarge):
    """The answer is larger than the caller's cap (for an image fetch: the upload limit)."""

    default_message = "The image is larger than the upload limit."


@dataclass(frozen=True)
class FetchedResource:
    data: bytes
    content_type: str
    final_url: str


@dataclass(frozen=True)
class _Target:
    """A vetted URL: where to connect (``ip``) and what to tell the server (``host_header``)."""

    scheme: str
    host: str
    port: int
    ip: str
    path: str
    host_header: str


def check_public_url(url: str, *, timeout: float = DNS_TIMEOUT_S) -> None:
    """Raise ``UnsafeURL`` unless ``url`` is an http(s) URL whose host resolves only to public addresses.

    The name lookup is bounded by ``timeout`` seconds (``FetchFailed`` past it)."""
    _vet_url(url, deadline=time.monotonic() + timeout)


def fetch_public_bytes(url: str, *, max_bytes: int, timeout: float) -> FetchedResource:
    """GET ``url`` (following vetted redirects) within ``timeout`` seconds in all.

    Raises ``UnsafeURL`` (400) for a blocked hop, ``FetchFailed`` (400) when the server does not
    answer, answers with an error or redirects too often, ``ResponseTooLarge`` (413) past ``max_bytes``.
    """
    deadline = time.monotonic() + timeout
    current = url
    for _hop in range(settings.IMAGE_FETCH_MAX_REDIRECTS + 1):
        target = _vet_url(current, deadline=deadline)
        exchange = _Exchange(target, deadline)
        response = exchange.open("GET", headers={"Accept": "image/*", "Accept-Encoding": "identity"}, body=None)
        try:
            if response.status in REDIRECT_STATUSES:
                location = response.getheader("Location")
                if not location:
                    raise FetchFailed(f"{_safe(current)} answered a redirect without a Location.")
                current = urljoin(current, location.strip())
                continue
            if not 200 <= response.status < 300:
                raise FetchFailed(f"{_safe(current)} answered HTTP {response.status}.")
            data = exchange.read_capped(max_bytes, url=current)
            content_type = (response.getheader("Content-Type") or "").split(";")[0].strip().lower()
            return FetchedResource(data=data, content_type=content_type, final_url=current)
        finally:
            exchange.close()
    raise FetchFailed(f"{_safe(url)} redirected more than {settings.IMAGE_FETCH_MAX_REDIRECTS} times.")


@dataclass(frozen=True)
class PostAnswer:
    status: int
    elapsed_ms: int
    body: bytes  # the start of the receiver's body (at most WEBHOOK_RESPONSE_CAP bytes)


def post_public_json(url: str, *, body: bytes, headers: dict[str, str], timeout: float) -> tuple[int, int]:
    """POST ``body`` as JSON to a vetted ``url``; no redirects are followed (a 3xx is the answer).

    Returns ``(status_code, elapsed_ms)``. Raises ``UnsafeURL`` or ``FetchFailed`` (connection
    refused, timeout, TLS failure); the caller records those as a failed attempt.
    """
    answer = post_public_json_answer(url, body=body, headers=headers, timeout=timeout)
    return answer.status, answer.elapsed_ms


def post_public_json_answer(url: str, *, body: bytes, headers: dict[str, str], timeout: float) -> PostAnswer:
    """``post_public_json``, keeping the start of the receiver's body as well (for the record of
    a webhook attempt)."""
    started = time.monotonic()
    deadline = started + timeout
    target = _vet_url(url, deadline=deadline)
    exchange = _Exchange(target, deadline)
    response = exchange.open("POST", body=body, headers={"Content-Type": "application/json", **headers})
    answered = b""
    try:
        # The status line is the answer: a receiver that then sends too much, or drips its body
        # past the deadline, still answered (and is not waited for beyond the deadline).
        with contextlib.suppress(ResponseTooLarge, FetchFailed):
            answered = exchange.read_capped(WEBHOOK_RESPONSE_CAP, url=url)
        return PostAnswer(response.status, int((time.monotonic() - started) * 1000), answered)
    finally:
        exchange.close()


# --- vetting ---------------------------------------------------------------------------------


def _vet_url(url: str, *, deadline: float) -> _Target:
    if not isinstance(url, str) or not url.strip():
        raise UnsafeURL("The URL is empty.")
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise UnsafeURL(f"{_safe(url)} is not a valid URL.") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise UnsafeURL("Only http and https URLs are allowed.")
    if parts.username is not None or parts.password is not None:
        raise UnsafeURL("URLs with credentials are not allowed.")
    host = parts.hostname
    if not host:
        raise UnsafeURL(f"{_safe(url)} has no host.")
    scheme = parts.scheme.lower()
    port = port or (443 if scheme == "https" else 80)
    addresses = _resolve(host, port, deadline=deadline)
    for address in addresses:
        if not _is_allowed(address):
            raise UnsafeURL(f"{_safe(url)} points to an address the server may not reach.")
    ascii_host = _ascii_host(host)
    default_port = port == (443 if scheme == "https" else 80)
    literal = f"[{ascii_host}]" if ":" in ascii_host else ascii_host
    return _Target(
        scheme=scheme,
        host=ascii_host,
        port=port,
        ip=str(addresses[0]),
        path=(parts.path or "/") + (f"?{parts.query}" if parts.query else ""),
        host_header=literal if default_port else f"{literal}:{port}",
    )


def _resolve(host: str, port: int, *, deadline: float) -> list[IPAddress]:
    """Every address ``host`` stands for; a literal is its own answer.

    getaddrinfo has no timeout of its own, so it runs on a small pool and we wait for it only
    until the deadline (a hung resolver then costs a pool thread, not the caller)."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    ascii_host = _ascii_host(host)
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise FetchFailed(f"The host {host!r} could not be resolved in time.")
    lookup = _RESOLVER.submit(lambda: socket.getaddrinfo(ascii_host, port, type=socket.SOCK_STREAM))
    try:
        infos = lookup.result(timeout=remaining)
    except concurrent.futures.TimeoutError:
        lookup.cancel()
        raise FetchFailed(f"The host {host!r} could not be resolved in time.") from None
    except (OSError, UnicodeError):
        raise FetchFailed(f"The host {host!r} could not be resolved.") from None
    addresses = []
    for _family, _type, _proto, _canon, sockaddr in infos:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%")[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise FetchFailed(f"The host {host!r} could not be resolved.")
    return addresses


def _is_allowed(address: IPAddress) -> bool:
    embedded = _embedded_ipv4(address)
    for candidate in (address, *embedded):
        if any(candidate.version == net.version and candidate in net for net in settings.OUTBOUND_ALLOWED_NETWORKS):
            return True
    return all(_is_public(candidate) for candidate in (address, *embedded))


def _embedded_ipv4(address: IPAddress) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses an IPv6 address reaches through (mapped, NAT64, 6to4, Teredo)."""
    if address.version != 6:
        return []
    found = []
    if address.ipv4_mapped is not None:
        found.append(address.ipv4_mapped)
    if address in NAT64_PREFIX:
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    if address.sixtofour is not None:
        found.append(address.sixtofour)
    if address.teredo is not None:
        found.extend(address.teredo)
    return found


def _is_public(address: IPAddress) -> bool:
    return (
        address.is_global
        and not address.is_multicast
        and not address.is_reserved
        and not address.is_link_local
        and address not in CLOUD_METADATA_ADDRESSES
    )


def _ascii_host(host: str) -> str:
    try:
        return host.encode("idna").decode("ascii") if not host.isascii() else host
    except UnicodeError:
        raise UnsafeURL(f"The host {host!r} is not a valid host name.") from None


def _safe(url: str) -> str:
    """The URL as it may appear in an error message: no user info or query string (either may
    hold a secret), the port kept (it is often what was wrong)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        if ":" in host:  # an IPv6 literal
            host = f"[{host}]"
        port = f":{parts.port}" if parts.port is not None else ""
        return f"{parts.scheme}://{host}{port}{parts.path}"[:200]
    except ValueError:
        return "the URL"


# --- talking to the server -------------------------------------------------------------------
#
# One deadline covers the whole exchange: DNS, connect, TLS, sending, the status line and headers,
# the body, and (through the caller's loop) every redirect hop. Socket timeouts alone cannot give
# that: they restart with every byte, so a peer that drips one byte a second holds the exchange for
# ever. Each exchange therefore arms a timer that shuts the socket down when the deadline passes;
# whatever read or write is blocked then returns at once, and the exchange reports a timeout.


class _Exchange:
    """One request/response on a socket that is cut at ``deadline``."""

    def __init__(self, target: _Target, deadline: float):
        self.target = target
        self.deadline = deadline
        self.expired = threading.Event()
        self.raw: socket.socket | None = None
        self.connection: http.client.HTTPConnection | None = None
        self.response: http.client.HTTPResponse | None = None
        self._timer: threading.Timer | None = None

    def open(self, method: str, *, headers: dict[str, str], body: bytes | None) -> http.client.HTTPResponse:
        target = self.target
        remaining = _remaining(self.deadline, target)
        family = socket.AF_INET6 if ":" in target.ip else socket.AF_INET
        self.raw = socket.socket(family, socket.SOCK_STREAM)
        self._timer = threading.Timer(remaining, self._cut)
        self._timer.daemon = True
        self._timer.start()
        try:
            self.raw.settimeout(remaining)
            self.raw.connect((target.ip, target.port))
            sock: socket.socket = self.raw
            if target.scheme == "https":
                # Connect to the vetted IP, but verify the certificate for the name the client gave.
                sock = ssl.create_default_context().wrap_socket(self.raw, server_hostname=target.host)
            self.connection = http.client.HTTPConnection(target.ip, target.port, timeout=remaining)
            self.connection.sock = sock
            # Header names are case-insensitive: a caller's own User-Agent (any spelling) replaces
            # the fetcher's instead of going out as a second one.
            defaults = {"Host": target.host_header, "User-Agent": USER_AGENT}
            given = {name.lower() for name in headers}
            all_headers = {name: value for name, value in defaults.items() if name.lower() not in given}
            all_headers.update(headers)
            self.connection.request(method, target.path, body=body, headers=all_headers)
            self.response = self.connection.getresponse()
        except BaseException as exc:
            self.close()
            raise self._failure(exc, connecting=True) from None
        return self.response

    def read_capped(self, max_bytes: int, *, url: str) -> bytes:
        response = self.response
        declared = response.getheader("Content-Length")
        if declared and declared.strip().isdigit() and int(declared) > max_bytes:
            raise ResponseTooLarge(f"{_safe(url)} is {int(declared):,} bytes; the limit is {max_bytes:,}.")
        chunks, total = [], 0
        while True:
            self._shrink_timeout(url)
            try:
                # read1: whatever one receive brings, so the size cap is checked as bytes arrive.
                chunk = response.read1(READ_CHUNK)
            except Exception as exc:
                raise self._failure(exc, url=url) from None
            if self.expired.is_set():
                # The timer's shutdown looks like the end of the body to a reader: not an answer.
                raise FetchFailed(f"{_safe(url)} did not answer in time.")
            if not chunk:
                return b"".join(chunks)
            total += len(chunk)
            if total > max_bytes:
                raise ResponseTooLarge(f"{_safe(url)} is larger than the limit of {max_bytes:,} bytes.")
            chunks.append(chunk)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        for closable in (self.response, self.connection, self.raw):
            if closable is not None:
                with contextlib.suppress(Exception):
                    closable.close()

    def _cut(self) -> None:
        self.expired.set()
        if self.raw is not None:
            with contextlib.suppress(OSError):
                self.raw.shutdown(socket.SHUT_RDWR)

    def _shrink_timeout(self, url: str) -> None:
        remaining = _remaining(self.deadline, None, url=url)
        sock = getattr(self.connection, "sock", None)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.settimeout(remaining)

    def _failure(self, exc: BaseException, *, connecting: bool = False, url: str = "") -> BaseException:
        if not isinstance(exc, Exception):
            return exc  # KeyboardInterrupt, a worker's TimeLimitExceeded: not ours to translate
        if isinstance(exc, FetchFailed | ResponseTooLarge | UnsafeURL):
            return exc
        where = _where(self.target) if connecting else _safe(url)
        if self.expired.is_set() or isinstance(exc, TimeoutError) or time.monotonic() >= self.deadline:
            return FetchFailed(f"{where} did not answer in time.")
        if connecting:
            return FetchFailed(f"{where} could not be reached ({_reason(exc)}).")
        return FetchFailed(f"{where} broke off the answer ({_reason(exc)}).")


def _remaining(deadline: float, target: _Target | None, *, url: str = "") -> float:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        where = _where(target) if target else _safe(url)
        raise FetchFailed(f"{where} did not answer in time.")
    return remaining


def _where(target: _Target) -> str:
    return f"{target.scheme}://{target.host_header}{target.path.split('?', 1)[0]}"


def _reason(exc: BaseException) -> str:
    text = str(exc)
    if isinstance(exc, ConnectionRefusedError) or "Connection refused" in text:
        return "connection refused"
    if (
        isinstance(exc, ssl.SSLCertVerificationError)
        or "doesn't match" in text
        or "certificate verify failed" in text.lower()
    ):
        return "TLS certificate not valid for the host"
    if isinstance(exc, ssl.SSLError):
        return "TLS handshake failed"
    return type(exc).__name__
