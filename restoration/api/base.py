"""What every keyed API view does before its own work, in this order:

1. the subscription key (401 missing/unknown, 403 revoked or suspended),
2. the key's request rate (429 with Retry-After and RateLimit-* headers),
3. the request size (413) and body (400),
then the view's own validation and the job services (402, 429 jobs in flight).
RateLimit-* headers are added to every answer once the rate was counted.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.urls import reverse
from rest_framework.exceptions import ParseError
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.views import APIView

from accounts.authentication import SubscriptionKeyAuthentication
from accounts.errors import MissingSubscriptionKey
from accounts.ratelimit import enforce_request_rate, ratelimit_headers
from lib.base_url import public_base_url
from restoration.api import schema  # noqa: F401 - registers the subscription-key security scheme
from restoration.errors import ImageTooLarge as RequestTooLarge
from restoration.errors import InternalError, InvalidInput, ModelNotFound
from restoration.licensing import check_model_sellable

logger = logging.getLogger(__name__)

# Multipart boundaries and JSON punctuation around the images and fields.
BODY_OVERHEAD_BYTES = 64 * 1024


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
    parser_classes = [JSONParser, MultiPartParser, FormParser]
    error_style = "gateway"

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # authenticates: 401/403 raise from here
        if request.auth is None:
            raise MissingSubscriptionKey()
        self.rate_state = enforce_request_rate(request.auth)

    def finalize_response(self, request: Request, response, *args: Any, **kwargs: Any):
        state = getattr(self, "rate_state", None)
        if state is not None:
            for name, value in ratelimit_headers(state).items():
                if name not in response:  # a 429 for jobs in flight brings its own
                    response[name] = value
        return super().finalize_response(request, response, *args, **kwargs)

    @property
    def organization(self):
        return self.request.auth.organization

    @property
    def api_key(self):
        return self.request.auth

    def read_body(self, request: Request) -> Any:
        """``request.data``, after refusing a body no valid request could have (413)."""
        limit = settings.MAX_UPLOAD_BYTES * 4 // 3 * settings.MAX_IMAGES_PER_REQUEST + BODY_OVERHEAD_BYTES
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            raise InvalidInput("Content-Length is not a number.") from None
        if declared > limit:
            raise RequestTooLarge(f"The request body is {declared:,} bytes; the limit is {limit:,}.")
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


def polling_url(request, request_id: str) -> str:
    return public_base_url(request) + reverse("api:request-status", kwargs={"request_id": request_id})


def check_model_enabled(model: str) -> None:
    if model not in settings.ENABLED_MODELS:
        raise ModelNotFound(model)
    check_model_sellable(model)


def is_multipart(request: Request) -> bool:
    return (request.content_type or "").lower().startswith("multipart/")
