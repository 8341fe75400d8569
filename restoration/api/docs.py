"""Shared OpenAPI annotations: the error answers each endpoint can give."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse

from jobs.idempotency import KEY_SEPARATOR, MAX_IDEMPOTENCY_KEY_LENGTH
from restoration.api.serializers import DemoErrorResponse, ErrorResponse

ERROR_DESCRIPTIONS = {
    400: 'Bad Request: invalid field, unknown field, bad image, unsafe or dead URL, model not found, or ("Model '
    'licence restricted") a model whose licence forbids selling it on a deployment that sells restorations.',
    401: "Unauthorized: missing, malformed or unknown subscription key.",
    402: "Insufficient Balance: the wallet cannot cover the price of the request, or its balance is negative after "
    "a refund or dispute; or (\"Spend Limit Reached\") the request would pass the organization's or the key's "
    "monthly spend limit, which the message names.",
    403: "Forbidden: revoked key or suspended organization.",
    404: "Not Found: no request with this id in your organization.",
    409: "Conflict: the request already finished (or was canceled while the demo waited).",
    411: "Length Required: a chunked body where the server in front cannot read one; send Content-Length.",
    413: "Payload Too Large: the image, or the body, is over the endpoint's limit (one image's worth of base64 plus "
    "the fields for generate; MAX_IMAGES_PER_REQUEST images' worth for the demo).",
    415: "Unsupported Media Type: send application/json or multipart/form-data.",
    422: "Unprocessable Entity: the Idempotency-Key was already used with a different request, or (demo) "
    "the image was rejected while restoring.",
    429: "Too Many Requests: the organization's request rate (all its keys share it), the organization's jobs in "
    "flight, or the plan's monthly image quota (the body adds renews_at, quota and used); see Retry-After.",
    500: "Internal Server Error: something failed on our side (for the demo: the restoration itself); not charged.",
    503: "Service Unavailable: the database cannot be reached; nothing was charged. Retry after Retry-After.",
    504: "Gateway Timeout: the images were not restored in time; their jobs were canceled and not charged.",
}


# A 48x48 PNG (a drawn face, 313 bytes) that the "Try it out" examples send as they stand: an
# example that only shows the shape (a truncated base64, a URL or webhook host that does not
# exist) answers 400 when a customer presses Execute, which reads as a broken API.
EXAMPLE_IMAGE_BASE64 = (
    "iVBORw0KGgoAAAANSUhEUgAAADAAAAAwCAIAAADYYG7QAAABAElEQVR42mN8c+8Mw2ACTAyDDIw6aNRBlAIWCvV/unUKU5BPzYxsAxnJ"
    "zvZYnUK5s8hxEEGnUOIsJpq6hgz1TDQ1nQxdTLR2Dal6h2w5REnwkGQCE31cQ7w5QzDKqBU8RJo2XOqyuIIOCGPRhApSZakfQnD70NjE"
    "yFLqIOomIGLMHBYNNOSUgZlK8MtS2vygRZThb5OMtqlHHTTSHERJh4Y8M4dRlO3oW0a27FAKIaI6irjKa0gweBRFERQkPlFS1LeH2IoW"
    "O7icQuWuNFUqNWLyLBMVzaKKCUM521MSSMTrZaKRuWTrYqKp6WSoHxYjaASdNTBjjKPtoVEHDVIHAQBXqnfoiloO2wAAAABJRU5ErkJggg=="
)


def _with_503(codes: tuple[int, ...]) -> tuple[int, ...]:
    # Every endpoint that can fail on our side (500) reads the database, so it can also answer
    # 503 while the database is down (config.errors).
    return (*codes, 503) if 500 in codes and 503 not in codes else codes


def gateway_errors(*codes: int) -> dict[int, OpenApiResponse]:
    return {code: OpenApiResponse(ErrorResponse, description=ERROR_DESCRIPTIONS[code]) for code in _with_503(codes)}


def demo_errors(*codes: int) -> dict[int, OpenApiResponse]:
    return {code: OpenApiResponse(DemoErrorResponse, description=ERROR_DESCRIPTIONS[code]) for code in _with_503(codes)}


IDEMPOTENCY_KEY_HEADER = OpenApiParameter(
    "Idempotency-Key",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description=f"A unique string of yours, up to {MAX_IDEMPOTENCY_KEY_LENGTH} printable ASCII characters "
    f"(no `{KEY_SEPARATOR}`), such as a UUID. A retry with the same key returns the first request's job(s), "
    "with the header `Idempotent-Replayed: true`, instead of creating and charging new ones; the same key "
    "with a different request is a 422. Keys are kept with the organization's requests, so reusing one "
    "later replays the old request.",
)
WEBHOOK_URL_HEADER = OpenApiParameter(
    "X-Webhook-URL",
    OpenApiTypes.URI,
    OpenApiParameter.HEADER,
    description="Public http(s) URL to receive signed webhook callbacks (the JSON `webhook` field wins if both are given).",
)
REQUEST_ID_PATH = OpenApiParameter(
    "request_id",
    OpenApiTypes.STR,
    OpenApiParameter.PATH,
    description="The request_id returned by generate, e.g. codeformer-image-restoration_<uuid>.",
)
PREFER_HEADER = OpenApiParameter(
    "Prefer",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description="`wait=N` (1 to 60): wait up to N seconds for the result and answer 200 with the final "
    "status object when the request finishes by then; otherwise the usual 202. Other preferences are ignored.",
)
LAST_EVENT_ID_HEADER = OpenApiParameter(
    "Last-Event-ID",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description="The id of the last event received (sent by EventSource on reconnect); log lines up to it "
    "are not sent again. Also accepted as the `last_event_id` query parameter.",
)
