"""What every keyed API view does before its own work, in this order:

1. the subscription key (401 missing/unknown, 403 revoked or suspended),
2. the key's request rate (429 with Retry-After and RateLimit-* headers),
3. the request size against the endpoint's own limit (413), before any of the body is read,
4. the body (400; JSON nested too deep is a 400 before it is parsed),
then the view's own validation and the job services (402, 429 jobs in flight).
RateLimit-* headers are added to every answer once the rate was counted.
"""

from __future__ import annotations

import io
import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.core.handlers.wsgi import LimitedStream
from django.urls import reverse
from rest_framework.exceptions import ParseError
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.views import APIView

from accounts.authentication import SubscriptionKeyAuthentication
from accounts.errors import MissingSubscriptionKey
from accounts.ratelimit import enforce_request_rate, ratelimit_headers
from lib.base_url import public_base_url
from restoration.api import schema  # noqa: F401 - registers the subscription-key security scheme
from restoration.api.parsers import BoundedJSONParser
from restoration.errors import ImageTooLarge as RequestTooLarge
from restoration.errors import InternalError, InvalidInput, LengthRequired, ModelNotFound
from restoration.licensing import check_model_sellable

logger = logging.getLogger(__name__)

# Multipart boundaries and JSON punctuation around the images, and every other field.
BODY_OVERHEAD_BYTES = 64 * 1024
_READ_CHUNK = 64 * 1024


def request_body_limit(*, images: int) -> int:
    """The largest body a valid request carrying ``images`` images can have: each as base64
    (4/3 of MAX_UPLOAD_BYTES, the larger of the encodings we take) plus the fields."""
    return images * (-(-settings.MAX_UPLOAD_BYTES // 3) * 4) + BODY_OVERHEAD_BYTES


class JSONErrorsAPIView(APIView):
    """Unexpected exceptions answer the documented 500 in the endpoint's error shape (with
    DJANGO_DEBUG on, Django's debug page instead, which is what a developer wants)."""

    def handle_exception(self, exc: Exception):
        try:
            return super().handle_exception(exc)
        except Exception:
            if settings.DEBUG:
                raise
            logger.exception("unhandled error in %s", type(self).__name__)
            return super().handle_exception(InternalError())


class KeyedAPIView(JSONErrorsAPIView):
    authentication_classes = [SubscriptionKeyAuthentication]
    permission_classes: list = []
    # URL-encoded forms carry the same fields as JSON (no files): a plain HTML form or `curl -d`.
    parser_classes = [BoundedJSONParser, MultiPartParser, FormParser]
    error_style = "gateway"
    # Images a request body of this endpoint may carry; its body limit follows (body_limit).
    body_images = 0

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # authenticates: 401/403 raise from here
        if request.auth is None:
            raise MissingSubscriptionKey()
        self.rate_state = enforce_request_rate(request.auth)
        enforce_body_limit(request, limit=self.body_limit())

    def body_limit(self) -> int:
        return request_body_limit(images=self.body_images)

    def finalize_response(self, request: Request, response, *args: Any, **kwargs: Any):
        state = getattr(self, "rate_state", None)
        if state is not None:
            for name, value in ratelimit_headers(state).items():
                if name not in response:  # a 429 for the request rate brings its own (the same)
                    response[name] = value
        return super().finalize_response(request, response, *args, **kwargs)

    @property
    def organization(self):
        return self.request.auth.organization

    @property
    def api_key(self):
        return self.request.auth

    def read_body(self, request: Request) -> Any:
        """``request.data``, with the parsers' and Django's refusals in the endpoint's shape."""
        try:
            return request.data
        except RequestDataTooBig:
            raise RequestTooLarge("A form field is larger than the upload limit.") from None
        except (TooManyFieldsSent, TooManyFilesSent) as exc:
            raise InvalidInput(str(exc)) from None
        except ParseError:
            raise
        except ValueError as exc:  # e.g. a multipart body without a boundary
            raise InvalidInput(f"The request body could not be parsed: {exc}") from None

    def base_url(self) -> str:
        return public_base_url(self.request)


def enforce_body_limit(request: Request, *, limit: int) -> None:
    """Refuse a body over ``limit`` bytes (413) before reading any of it when it declares its
    length; read one without Content-Length (chunked) at most ``limit`` + 1 bytes into memory.

    Django reads nothing of a body without Content-Length (WSGIRequest limits its stream to 0
    bytes), so a chunked request would silently lose its body. gunicorn de-chunks the input and
    says so with ``wsgi.input_terminated``; there the body is read here, bounded, and handed on
    with the length it turned out to have. A server that cannot end the input (runserver) gets
    411 for a chunked body rather than a read that might never end.
    """
    meta = request.META
    declared = str(meta.get("CONTENT_LENGTH") or "").strip()
    if declared:
        if not declared.isdigit():
            raise InvalidInput("Content-Length is not a number.")
        if int(declared) > limit:
            raise RequestTooLarge(f"The request body is {int(declared):,} bytes; the limit is {limit:,}.")
        return
    if not meta.get("wsgi.input_terminated"):
        if "chunked" in meta.get("HTTP_TRANSFER_ENCODING", "").lower():
            raise LengthRequired()
        return
    body = _read_at_most(meta["wsgi.input"], limit + 1)
    if len(body) > limit:
        raise RequestTooLarge(f"The request body is over the limit of {limit:,} bytes.")
    django_request = request._request
    django_request.META["CONTENT_LENGTH"] = str(len(body))
    django_request._stream = LimitedStream(io.BytesIO(body), len(body))


def _read_at_most(stream, size: int) -> bytes:
    parts, total = [], 0
    while total < size:
        part = stream.read(min(_READ_CHUNK, size - total))
        if not part:
            break
        parts.append(part)
        total += len(part)
    return b"".join(parts)


def polling_url(request, request_id: str) -> str:
    return public_base_url(request) + reverse("api:request-status", kwargs={"request_id": request_id})


def check_model_enabled(model: str) -> None:
    if model not in settings.ENABLED_MODELS:
        raise ModelNotFound(model)
    check_model_sellable(model)


def is_multipart(request: Request) -> bool:
    return (request.content_type or "").lower().startswith("multipart/")
