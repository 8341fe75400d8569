"""The absolute origin put in front of URLs handed to clients (polling URLs, media, snippets)."""

from __future__ import annotations

from django.conf import settings


def public_base_url(request) -> str:
    """PUBLIC_BASE_URL when configured, else where the client reached us (no trailing slash)."""
    return settings.PUBLIC_BASE_URL or request.build_absolute_uri("/").rstrip("/")


def stored_base_url(recorded: str) -> str:
    """For work done later without a request (a worker's webhook): PUBLIC_BASE_URL, else the
    origin recorded when the request came in, else where ``runservice`` serves (the embedded
    mode), else localhost:8000."""
    return settings.PUBLIC_BASE_URL or recorded or settings.SERVED_BASE_URL or "http://localhost:8000"
