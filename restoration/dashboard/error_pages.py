"""The CSRF failure page (settings.CSRF_FAILURE_VIEW): the product's layout and plain words
instead of Django's bare "CSRF verification failed" page. The reason stays in the log."""

from __future__ import annotations

import logging

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.http import url_has_allowed_host_and_scheme

logger = logging.getLogger(__name__)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    logger.warning("CSRF check failed for %s %s: %s", request.method, request.path, reason)
    referer = request.headers.get("Referer", "")
    safe = url_has_allowed_host_and_scheme(
        referer, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return render(request, "403_csrf.html", {"retry_url": referer if safe else ""}, status=403)
