"""One error type for the whole service, and the DRF handler that renders it.

Services raise ``ApplicationError`` subclasses; views never build error bodies by hand. The
gateway API answers ``{"error": ..., "message": ...}``; the demo API (views that set
``error_style = "demo"``) answers ``{"status": "error", "message": ...}``.

A database that cannot be reached (refused, timed out, connection lost) is a 503 in the same
shape, never a 500. Jobs and money change only in committed transactions, so such a request
either left nothing behind or, failing after its commit, is found again by its Idempotency-Key.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import InterfaceError, OperationalError
from django.http import Http404
from rest_framework import exceptions as drf_exceptions
from rest_framework import status
from rest_framework.response import Response

logger = logging.getLogger(__name__)


class ApplicationError(Exception):
    """A domain error with a short title (``error``), a message and an HTTP status."""

    status_code = status.HTTP_400_BAD_REQUEST
    title = "Bad Request"
    default_message = "The request could not be processed."

    def __init__(
        self, message: str | None = None, *, headers: dict[str, str] | None = None, extra: dict[str, Any] | None = None
    ):
        self.message = message or self.default_message
        self.headers = headers or {}
        self.extra = extra or {}
        super().__init__(self.message)


class BadRequest(ApplicationError):
    pass


class Unauthorized(ApplicationError):
    status_code = status.HTTP_401_UNAUTHORIZED
    title = "Unauthorized"
    default_message = "Access denied due to missing or invalid subscription key."


class Forbidden(ApplicationError):
    status_code = status.HTTP_403_FORBIDDEN
    title = "Forbidden"
    default_message = "This subscription key may not be used."


class NotFound(ApplicationError):
    status_code = status.HTTP_404_NOT_FOUND
    title = "Not Found"
    default_message = "No such resource."


class Conflict(ApplicationError):
    status_code = status.HTTP_409_CONFLICT
    title = "Conflict"


class PayloadTooLarge(ApplicationError):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    title = "Payload Too Large"


class UnprocessableEntity(ApplicationError):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    title = "Unprocessable Entity"


class ServiceUnavailable(ApplicationError):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    title = "Service Unavailable"


class DatabaseUnavailable(ServiceUnavailable):
    default_message = "The service's database is unavailable; nothing was charged. Please try again shortly."
    retry_after_s = 10

    def __init__(self, message: str | None = None):
        super().__init__(message, headers={"Retry-After": str(self.retry_after_s)})


def _render(
    view: Any,
    status_code: int,
    title: str,
    message: Any,
    headers: dict[str, str] | None = None,
    extra: dict | None = None,
) -> Response:
    if getattr(view, "error_style", "gateway") == "demo":
        body: dict[str, Any] = {"status": "error", "message": message}
    else:
        body = {"error": title, "message": message}
    if extra:
        body.update(extra)
    return Response(body, status=status_code, headers=headers)


def _flatten(detail: Any) -> str:
    """Turn DRF's nested validation detail into one readable sentence."""
    if isinstance(detail, dict):
        parts = []
        for field, value in detail.items():
            text = _flatten(value)
            parts.append(text if field == "non_field_errors" else f"{field}: {text}")
        return "; ".join(parts)
    if isinstance(detail, list):
        return " ".join(_flatten(item) for item in detail)
    return str(detail)


def _accepted_media_types(view: Any) -> str:
    """' Send the body as a, b or c.' for a 415: what this endpoint's parsers read."""
    try:
        types = list(dict.fromkeys(parser.media_type for parser in view.get_parsers()))
    except AttributeError:
        return ""
    if not types:
        return ""
    listed = types[0] if len(types) == 1 else f"{', '.join(types[:-1])} or {types[-1]}"
    return f" Send the body as {listed}, with that Content-Type."


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    view = context.get("view")
    if isinstance(exc, (OperationalError, InterfaceError)):
        logger.warning("database unavailable in %s: %s", type(view).__name__, exc)
        exc = DatabaseUnavailable()
    if isinstance(exc, ApplicationError):
        return _render(view, exc.status_code, exc.title, exc.message, exc.headers, exc.extra)
    if isinstance(exc, Http404):
        return _render(view, 404, NotFound.title, NotFound.default_message)
    if isinstance(exc, PermissionDenied):
        return _render(view, 403, Forbidden.title, str(exc) or Forbidden.default_message)
    if isinstance(exc, drf_exceptions.APIException):
        headers = {}
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header
        if getattr(exc, "wait", None):
            headers["Retry-After"] = str(int(exc.wait))
        titles = {
            400: "Bad Request",
            401: "Unauthorized",
            403: "Forbidden",
            404: "Not Found",
            405: "Method Not Allowed",
            406: "Not Acceptable",
            413: "Payload Too Large",
            415: "Unsupported Media Type",
            429: "Too Many Requests",
        }
        code = exc.status_code
        message = _flatten(exc.detail)
        if isinstance(exc, drf_exceptions.UnsupportedMediaType):
            message += _accepted_media_types(view)
        return _render(view, code, titles.get(code, "Error"), message, headers)
    return None
