"""Fetching and posting to client-given URLs without letting clients reach our own network (SSRF).

A URL must be http(s), carry no credentials, and every address its host resolves to must be
public: loopback, private, link-local, shared (CGNAT), multicast, reserved, unspecified and cloud
metadata addresses are refused, also when hidden in an IPv4-mapped, NAT64, 6to4 or Teredo IPv6
address or in a numeric spelling such as ``http://2130706433/`` (the resolver expands those).

The connection goes to the address we vetted, never to a second DNS answer (DNS rebinding), with
the Host header and, for https, the TLS server name set to the URL's host so the certificate is
still checked against the name. Redirects are followed by hand and every hop is vetted again.
Size and total time (one deadline for the whole exchange, not per read) are capped.

``settings.OUTBOUND_ALLOWED_NETWORKS`` exempts networks (tests add 127.0.0.1/32 for a local
server; production leaves it empty).
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import time
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import urllib3
from django.conf import settings

from config.errors import BadRequest, PayloadTooLarge

__all__ = [
    "FetchFailed",
    "FetchedResource",
    "OutboundURLError",
    "ResponseTooLarge",
    "UnsafeURL",
    "check_public_url",
    "fetch_public_bytes",
    "post_public_json",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

USER_AGENT = "codeformer-service/1.0 (+image fetcher)"
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
READ_CHUNK = 64 * 1024
# A webhook receiver's answer is only logged; there is no reason to read more of it.
WEBHOOK_RESPONSE_CAP = 64 * 1024

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


def check_public_url(url: str) -> None:
    """Raise ``UnsafeURL`` unless ``url`` is an http(s) URL whose host resolves only to public addresses."""
    _vet_url(url)


def fetch_public_bytes(url: str, *, max_bytes: int, timeout: float) -> FetchedResource:
    """GET ``url`` (following vetted redirects) within ``timeout`` seconds in all.

    Raises ``UnsafeURL`` (400) for a blocked hop, ``FetchFailed`` (400) when the server does not
    answer, answers with an error or redirects too often, ``ResponseTooLarge`` (413) past ``max_bytes``.
    """
    deadline = time.monotonic() + timeout
    current = url
    for _hop in range(settings.IMAGE_FETCH_MAX_REDIRECTS + 1):
        target = _vet_url(current)
        response = _send(target, "GET", deadline, headers={"Accept": "image/*", "Accept-Encoding": "identity"})
        try:
            if response.status in REDIRECT_STATUSES:
                location = response.headers.get("Location")
                if not location:
                    raise FetchFailed(f"{_safe(current)} answered a redirect without a Location.")
                current = urljoin(current, location.strip())
                continue
            if not 200 <= response.status < 300:
                raise FetchFailed(f"{_safe(current)} answered HTTP {response.status}.")
            data = _read_capped(response, max_bytes, deadline, url=current)
            content_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
            return FetchedResource(data=data, content_type=content_type, final_url=current)
        finally:
            response.release_conn()
    raise FetchFailed(f"{_safe(url)} redirected more than {settings.IMAGE_FETCH_MAX_REDIRECTS} times.")


def post_public_json(url: str, *, body: bytes, headers: dict[str, str], timeout: float) -> tuple[int, int]:
    """POST ``body`` as JSON to a vetted ``url``; no redirects are followed (a 3xx is the answer).

    Returns ``(status_code, elapsed_ms)``. Raises ``UnsafeURL`` or ``FetchFailed`` (connection
    refused, timeout, TLS failure); the caller records those as a failed attempt.
    """
    started = time.monotonic()
    deadline = started + timeout
    target = _vet_url(url)
    response = _send(target, "POST", deadline, body=body, headers={"Content-Type": "application/json", **headers})
    try:
        # A chatty receiver still answered; its status code is what counts.
        with contextlib.suppress(ResponseTooLarge):
            _read_capped(response, WEBHOOK_RESPONSE_CAP, deadline, url=url)
        return response.status, int((time.monotonic() - started) * 1000)
    finally:
        response.release_conn()


# --- vetting ---------------------------------------------------------------------------------


def _vet_url(url: str) -> _Target:
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
    addresses = _resolve(host, port)
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


def _resolve(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` stands for; a literal is its own answer."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(_ascii_host(host), port, type=socket.SOCK_STREAM)
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
    """The URL as it may appear in an error message: no query string (it may hold a token)."""
    try:
        parts = urlsplit(url)
        return f"{parts.scheme}://{parts.hostname or ''}{parts.path}"[:200]
    except ValueError:
        return "the URL"


# --- talking to the server -------------------------------------------------------------------


def _send(target: _Target, method: str, deadline: float, *, headers: dict[str, str], body: bytes | None = None):
    remaining = _remaining(deadline, target)
    timeout = urllib3.Timeout(connect=remaining, read=remaining)
    if target.scheme == "https":
        # Connect to the vetted IP, but verify the certificate for the name the client gave.
        pool = urllib3.HTTPSConnectionPool(
            target.ip,
            target.port,
            timeout=timeout,
            retries=False,
            maxsize=1,
            cert_reqs="CERT_REQUIRED",
            server_hostname=target.host,
            assert_hostname=target.host,
        )
    else:
        pool = urllib3.HTTPConnectionPool(target.ip, target.port, timeout=timeout, retries=False, maxsize=1)
    all_headers = {"Host": target.host_header, "User-Agent": USER_AGENT, **headers}
    try:
        return pool.urlopen(
            method,
            target.path,
            body=body,
            headers=all_headers,
            redirect=False,
            retries=False,
            preload_content=False,
            assert_same_host=False,
        )
    except urllib3.exceptions.NewConnectionError as exc:  # a subclass of ConnectTimeoutError, so first
        raise FetchFailed(f"{_where(target)} could not be reached ({_reason(exc)}).") from None
    except urllib3.exceptions.TimeoutError:
        raise FetchFailed(f"{_where(target)} did not answer in time.") from None
    except urllib3.exceptions.HTTPError as exc:
        raise FetchFailed(f"{_where(target)} could not be reached ({_reason(exc)}).") from None


def _read_capped(response, max_bytes: int, deadline: float, *, url: str) -> bytes:
    declared = response.headers.get("Content-Length")
    if declared and declared.strip().isdigit() and int(declared) > max_bytes:
        raise ResponseTooLarge(f"{_safe(url)} is {int(declared):,} bytes; the limit is {max_bytes:,}.")
    chunks, total = [], 0
    while True:
        _set_read_timeout(response, _remaining(deadline, None, url=url))
        try:
            # read1: whatever one receive brings, so the deadline is checked between small reads
            # (read(n) would block until n bytes arrived, however slowly they drip in).
            chunk = response.read1(READ_CHUNK)
        except urllib3.exceptions.TimeoutError:
            raise FetchFailed(f"{_safe(url)} did not answer in time.") from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise FetchFailed(f"{_safe(url)} broke off the answer ({_reason(exc)}).") from None
        if not chunk:
            return b"".join(chunks)
        total += len(chunk)
        if total > max_bytes:
            raise ResponseTooLarge(f"{_safe(url)} is larger than the limit of {max_bytes:,} bytes.")
        chunks.append(chunk)


def _remaining(deadline: float, target: _Target | None, *, url: str = "") -> float:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        where = _where(target) if target else _safe(url)
        raise FetchFailed(f"{where} did not answer in time.")
    return remaining


def _set_read_timeout(response, seconds: float) -> None:
    """Shrink the socket timeout to what is left of the deadline, so a slow drip cannot outlast it."""
    connection = getattr(response, "connection", None)
    sock = getattr(connection, "sock", None)
    if sock is not None:
        sock.settimeout(seconds)


def _where(target: _Target) -> str:
    return f"{target.scheme}://{target.host_header}{target.path.split('?', 1)[0]}"


def _reason(exc: BaseException) -> str:
    inner = getattr(exc, "reason", None) or exc
    text = str(inner)
    if "Connection refused" in text:
        return "connection refused"
    if "doesn't match" in text or "certificate verify failed" in text.lower():
        return "TLS certificate not valid for the host"
    if isinstance(exc, urllib3.exceptions.SSLError):
        return "TLS handshake failed"
    return type(inner).__name__
