"""The address of the client behind our proxies.

``REMOTE_ADDR`` is the last hop. Behind ``settings.TRUSTED_PROXY_COUNT`` reverse proxies that each
append to ``X-Forwarded-For``, the client is that many entries from the right; entries further
left were written by the client itself and prove nothing.
"""

from __future__ import annotations

import ipaddress

from django.conf import settings


def client_ip(request) -> str:
    remote = request.META.get("REMOTE_ADDR", "") or "0.0.0.0"  # noqa: S104 - a placeholder, never bound
    hops = settings.TRUSTED_PROXY_COUNT
    if hops <= 0:
        return remote
    forwarded = [part.strip() for part in request.headers.get("X-Forwarded-For", "").split(",") if part.strip()]
    if len(forwarded) < hops:
        return remote
    candidate = forwarded[-hops]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return remote
