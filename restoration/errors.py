"""Errors of the HTTP API layer: bad input, unknown models, demo timeouts.

The errors of fetching client-given URLs (``UnsafeURL``, ``FetchFailed``, ``ResponseTooLarge``)
live with the fetcher in ``lib.netfetch``, which ``jobs/`` uses too.

Each is an ``ApplicationError``, so ``config.errors.exception_handler`` renders it in the shape
of the endpoint that raised it (gateway ``{error, message}`` or demo ``{status, message}``).
"""

from __future__ import annotations

from rest_framework import status

from config.errors import ApplicationError, BadRequest, PayloadTooLarge


class InvalidInput(BadRequest):
    """A field is missing, of the wrong type or out of range."""

    default_message = "The request body is not valid."


class UnknownFields(BadRequest):
    default_message = "The request has fields this endpoint does not accept."


class InvalidImageInput(BadRequest):
    """The bytes are not an image we can process (not an image, truncated, too many pixels)."""

    default_message = "The image could not be read."


class ImageTooLarge(PayloadTooLarge):
    default_message = "The image is larger than the upload limit."


class LengthRequired(ApplicationError):
    status_code = status.HTTP_411_LENGTH_REQUIRED
    title = "Length Required"
    default_message = "This server cannot read a chunked request body; send it with a Content-Length header."


class ModelNotFound(BadRequest):
    """Worded exactly as the gateway document's queue-system error."""

    title = "Model not found"

    def __init__(self, model: str):
        super().__init__(f"Model '{model}' not found or is disabled")


class ModelLicenceRestricted(BadRequest):
    """The model's weights are licensed for non-commercial use only and this deployment charges."""

    title = "Model licence restricted"

    def __init__(self, *, model: str, licence: str):
        super().__init__(
            f"Model '{model}' is under the {licence}, which does not allow commercial use; this deployment "
            "sells restorations and has not recorded a commercial licence for it."
        )


class InternalError(ApplicationError):
    """What a client sees of a bug: the documented 500 shape, never a traceback."""

    status_code = status.HTTP_500_INTERNAL_SERVER_ERROR
    title = "Internal Server Error"
    default_message = "Something went wrong on our side; the request was not charged. Please try again."


class TooManyFetches(ApplicationError):
    """429: the organization already has its limit of image URLs being fetched."""

    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    title = "Too Many Requests"
    retry_after_s = 5

    def __init__(self, limit: int):
        super().__init__(
            f"This organization already has {limit} image URLs being fetched; "
            "wait for them to finish or send the image itself (multipart or base64).",
            headers={"Retry-After": str(self.retry_after_s)},
        )


class DemoTimeout(ApplicationError):
    status_code = status.HTTP_504_GATEWAY_TIMEOUT
    title = "Gateway Timeout"
    default_message = "The images were not restored in time."


class DemoJobsFailed(ApplicationError):
    """Some images of a demo request did not come out; the status code says why."""

    title = "Restoration Failed"

    def __init__(self, message: str, *, status_code: int, extra: dict | None = None):
        super().__init__(message, extra=extra)
        self.status_code = status_code
