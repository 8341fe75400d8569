"""The asynchronous gateway API: generate, status, cancel and the list of recent requests."""

from __future__ import annotations

import re

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param

from accounts.authentication import QUERY_PARAM as KEY_QUERY_PARAM
from jobs.idempotency import job_replay
from jobs.live import event_stream_response, finished_before, job_event_stream, parse_last_event_id
from jobs.models import Job
from jobs.selectors import job_get, job_status_payload, jobs_for
from jobs.services import job_admission_precheck, job_cancel, job_submit, jobs_await
from jobs.types import JobParams
from lib.netfetch import OutboundURLError, check_public_url
from restoration import intake
from restoration.api.base import KeyedAPIView, check_model_enabled, is_multipart, polling_url
from restoration.api.docs import (
    EXAMPLE_IMAGE_BASE64,
    IDEMPOTENCY_KEY_HEADER,
    LAST_EVENT_ID_HEADER,
    PREFER_HEADER,
    REQUEST_ID_PATH,
    WEBHOOK_URL_HEADER,
    gateway_errors,
)
from restoration.api.serializers import (
    GenerateAcceptedResponse,
    GenerateJSONRequest,
    GenerateMultipartRequest,
    RequestListItem,
    StatusResponse,
)
from restoration.api.submission import idempotency_key_from, replay_headers, request_fingerprint
from restoration.errors import InvalidInput

TAG = "Gateway API"


class GenerateView(KeyedAPIView):
    body_images = 1  # one image per request: the body limit is one image's base64 plus the fields

    @extend_schema(
        operation_id="codeformer_generate",
        summary="Queue a face restoration",
        description="Send the image as a public URL (`image`), as base64 (`image_base64`) or as a multipart "
        "file (`image`). The URL is fetched now: a dead, unsafe or non-image URL is a 400 and nothing is "
        "charged. Poll `polling_url`, follow its live stream, or pass a webhook. With `Prefer: wait=N` "
        "the call waits up to N seconds (at most 60) and answers 200 with the final status object if "
        "the request finished by then; otherwise it answers the usual 202.",
        tags=[TAG],
        request={
            "application/json": GenerateJSONRequest,
            "multipart/form-data": GenerateMultipartRequest,
            "application/x-www-form-urlencoded": GenerateJSONRequest,
        },
        parameters=[IDEMPOTENCY_KEY_HEADER, WEBHOOK_URL_HEADER, PREFER_HEADER],
        responses={
            200: OpenApiResponse(
                StatusResponse,
                description="With `Prefer: wait=N` only: the request reached a final status within N "
                "seconds (header `Preference-Applied: wait=N`).",
            ),
            202: OpenApiResponse(GenerateAcceptedResponse, description="Accepted: request queued."),
            **gateway_errors(400, 401, 402, 403, 411, 413, 415, 422, 429, 500),
        },
        examples=[
            # Swagger UI's "Try it out" starts from the first example: one that works as it stands.
            OpenApiExample(
                "Inline image (works in Try it out)",
                request_only=True,
                media_type="application/json",
                value={"image_base64": EXAMPLE_IMAGE_BASE64, "codeformer_fidelity": 0.5, "upscale": 1},
            ),
            OpenApiExample(
                "Image URL and webhook (replace both with your own)",
                request_only=True,
                media_type="application/json",
                value={
                    "image": "https://example.com/input_model.png",
                    "codeformer_fidelity": 0.5,
                    "background_enhance": True,
                    "face_upsample": True,
                    "upscale": 2,
                    "webhook": "https://your-domain.com/webhook",
                    "webhook_events_filter": ["start", "output", "logs", "completed"],
                },
            ),
        ],
    )
    def post(self, request: Request) -> Response:
        wait_s = prefer_wait_seconds(request.headers.get("Prefer"))
        data = self.read_body(request)
        multipart = is_multipart(request)
        if multipart and isinstance(data.get("image"), str):
            raise InvalidInput(
                "image: in a multipart/form-data body, image is a file part. To send a URL instead, post "
                'JSON ({"image": "https://..."}) or a form-encoded body.'
            )
        serializer = (GenerateMultipartRequest if multipart else GenerateJSONRequest)(data=data)
        serializer.is_valid(raise_exception=True)
        fields = serializer.validated_data
        check_model_enabled(fields["model"])
        webhook_url = (fields.get("webhook") or request.headers.get("X-Webhook-URL") or "").strip()
        if webhook_url:
            _check_webhook_url(webhook_url)
        webhook_events = fields.get("webhook_events_filter")
        idempotency_key = idempotency_key_from(request)
        params = JobParams.from_values(fields)

        def fingerprint(**images) -> str:
            return request_fingerprint(
                endpoint="generate", params=params, webhook_url=webhook_url, webhook_events=webhook_events, **images
            )

        url = None if multipart else _plain_url(fields)
        if idempotency_key and url:
            # A retry must not depend on the image URL still answering (presigned URLs expire).
            earlier = job_replay(
                organization=self.organization,
                idempotency_key=idempotency_key,
                fingerprint=fingerprint(image_ids=[intake.url_identity(url)]),
            )
            if earlier:
                return self._accepted(earlier[0], created=False)
        # The cheap refusals (402 included) come before fetching or decoding the image.
        job_admission_precheck(organization=self.organization, params=params, api_key=self.api_key)
        image = intake.image_from_upload(fields["image"]) if multipart else _json_image(fields, self.organization)
        jobs, created = job_submit(
            organization=self.organization,
            params=params,
            images=[image],
            source=Job.Source.GATEWAY,
            api_key=self.api_key,
            webhook_url=webhook_url,
            webhook_events=list(dict.fromkeys(webhook_events)) if webhook_events else None,
            idempotency_key=idempotency_key,
            # Only a retry with the same key compares it: no key, no hash of the upload.
            fingerprint=fingerprint(images=[image]) if idempotency_key else "",
            base_url=self.base_url(),
        )
        job = jobs[0]
        if wait_s:
            job = jobs_await(organization=self.organization, jobs=jobs, timeout_s=wait_s)[0]
            if job.is_terminal:
                headers = {"Preference-Applied": f"wait={wait_s}", **replay_headers(created=created)}
                return Response(job_status_payload(job, base_url=self.base_url()), headers=headers)
        # After a wait, the status as last read (PROCESSING, say), not as it was when accepted.
        return self._accepted(job, created=created)

    def _accepted(self, job: Job, *, created: bool) -> Response:
        body = {
            "request_id": job.request_id,
            "status": job.status,
            "polling_url": polling_url(self.request, job.request_id),
        }
        return Response(body, status=status.HTTP_202_ACCEPTED, headers=replay_headers(created=created))


_WAIT_PREFERENCE = re.compile(r"^\s*wait\s*=\s*(?P<value>[^;\s]*)", re.IGNORECASE)


def prefer_wait_seconds(header: str | None) -> int:
    """The ``wait=N`` of an RFC 7240 ``Prefer`` header, 0 when absent. Other preferences are
    ignored, as the RFC asks; a ``wait`` that is not a whole number from 1 to the limit is a 400
    (silently not waiting would look like a slow server)."""
    if not header:
        return 0
    limit = settings.GATEWAY_PREFER_WAIT_MAX_S
    for preference in header.split(","):
        match = _WAIT_PREFERENCE.match(preference)
        if match is None:
            continue
        value = match.group("value").strip('"')
        if not value.isdigit() or not 1 <= int(value) <= limit:
            raise InvalidInput(f"Prefer: wait must be a whole number of seconds from 1 to {limit}.")
        return int(value)
    return 0


def _plain_url(fields: dict) -> str | None:
    url = fields.get("image")
    if url and not fields.get("image_base64") and not url.strip().lower().startswith("data:"):
        return url.strip()
    return None


MAX_IMAGE_URL_LENGTH = 2000  # Job.input_url's column


def _json_image(fields: dict, organization):
    url, encoded = fields.get("image"), fields.get("image_base64")
    if url and encoded:
        raise InvalidInput("Give either image (a URL) or image_base64, not both.")
    if encoded:
        return intake.image_from_base64(encoded, field="image_base64")
    if not url:
        raise InvalidInput("image: this field is required (a public image URL, or use image_base64).")
    if url.strip().lower().startswith("data:"):
        return intake.image_from_base64(url, field="image")
    if len(url) > MAX_IMAGE_URL_LENGTH:
        raise InvalidInput(
            f"image: a URL is at most {MAX_IMAGE_URL_LENGTH} characters. To send the picture itself, "
            "put its base64 in image_base64."
        )
    return intake.image_from_url(url, organization=organization, field="image")


class RequestStatusView(KeyedAPIView):
    @extend_schema(
        operation_id="request_status",
        summary="Status of a request",
        description="The documented status object, plus `logs`, `timings` and `retention`.",
        tags=[TAG],
        parameters=[REQUEST_ID_PATH],
        responses={200: StatusResponse, **gateway_errors(401, 403, 404, 429, 500)},
    )
    def get(self, request: Request, request_id: str) -> Response:
        job = job_get(organization=self.organization, request_id=request_id)
        return Response(job_status_payload(job, base_url=self.base_url()))


class RequestStreamView(KeyedAPIView):
    @extend_schema(
        operation_id="request_status_stream",
        summary="Live status and logs of a request (server-sent events)",
        description="A `text/event-stream` of the request: a `status` event (the status object without "
        "`logs`, plus `live`: current stage, faces found, elapsed seconds and, once completed, the "
        "output's width, height and bytes) first and whenever it changes; a `log` event per log "
        "line as it is written (its SSE `id` is the line's id); and `done` once the request is final, "
        "after which the server closes the stream. A connection lasts at most about a minute; "
        "reconnect with `Last-Event-ID` (EventSource does this by itself) to continue without "
        "repeats. A reconnect to a request that is already final, with nothing after `Last-Event-ID`, "
        "answers 204 No Content, which stops an EventSource from reconnecting; call `close()` on `done` "
        "all the same (every reconnect counts against the rate limit). Authenticate with the `Ocp-Apim-Subscription-Key` header, a bearer token, or the "
        "`subscription-key` query parameter (browsers' EventSource cannot send headers).\n\n"
        '```\nevent: status\ndata: {"request_id":"codeformer-image-restoration_…","status":'
        '"PROCESSING",…,"live":{"stage":"Restoring faces.","faces_detected":null,'
        '"elapsed_s":1.2,…}}\n\nid: 42\nevent: log\ndata: {"at":"2026-01-01T12:00:01.250Z",'
        '"message":"Restoring faces."}\n```',
        tags=[TAG],
        parameters=[REQUEST_ID_PATH, LAST_EVENT_ID_HEADER],
        responses={
            (200, "text/event-stream"): OpenApiResponse(
                OpenApiTypes.STR, description="The event stream (status, log and done events)."
            ),
            204: OpenApiResponse(
                description="A reconnect (`Last-Event-ID` sent) to a request that is final, with nothing "
                "new since: there is nothing left to stream."
            ),
            **gateway_errors(401, 403, 404, 429, 500),
        },
    )
    def get(self, request: Request, request_id: str):
        job = job_get(organization=self.organization, request_id=request_id)
        last = request.headers.get("Last-Event-ID") or request.query_params.get("last_event_id")
        if last is not None and finished_before(job, parse_last_event_id(last)):
            return Response(status=status.HTTP_204_NO_CONTENT)
        return event_stream_response(
            job_event_stream(
                organization=self.organization,
                job_id=job.id,
                base_url=self.base_url(),
                last_event_id=parse_last_event_id(last),
            )
        )


class RequestCancelView(KeyedAPIView):
    @extend_schema(
        operation_id="request_cancel",
        summary="Cancel a queued or processing request",
        description="The hold on the wallet is released; a result that arrives later is discarded. "
        "A request that already finished answers 409; one already canceled answers 200 with its status "
        "again (cancelling twice is harmless).",
        tags=[TAG],
        parameters=[REQUEST_ID_PATH],
        request=None,
        responses={200: StatusResponse, **gateway_errors(401, 403, 404, 409, 429, 500)},
    )
    def post(self, request: Request, request_id: str) -> Response:
        job = job_get(organization=self.organization, request_id=request_id)
        job = job_cancel(organization=self.organization, job=job)
        return Response(job_status_payload(job, base_url=self.base_url()))


class RequestPagination(LimitOffsetPagination):
    """DRF's limit/offset paging, but junk is a 400 instead of the default page, and a key
    given as ``subscription-key`` in the query is not copied into the ``next``/``previous`` links
    (they end up in logs, histories and shared screenshots)."""

    default_limit = 20
    max_limit = 100

    def get_limit(self, request: Request) -> int:
        limit = _query_int(request, self.limit_query_param, minimum=1)
        return self.default_limit if limit is None else min(limit, self.max_limit)

    def get_offset(self, request: Request) -> int:
        return _query_int(request, self.offset_query_param, minimum=0) or 0

    def get_next_link(self) -> str | None:
        link = super().get_next_link()
        return link and remove_query_param(link, KEY_QUERY_PARAM)

    def get_previous_link(self) -> str | None:
        link = super().get_previous_link()
        return link and remove_query_param(link, KEY_QUERY_PARAM)


def _query_int(request: Request, name: str, *, minimum: int) -> int | None:
    value = request.query_params.get(name)
    if value is None or value == "":
        return None
    if not value.isascii() or not value.isdigit() or int(value) < minimum:
        raise InvalidInput(f"{name}: must be a whole number of at least {minimum}; got {value[:40]!r}.")
    return int(value)


class RequestListView(KeyedAPIView):
    @extend_schema(
        operation_id="request_list",
        summary="Your organization's recent requests",
        description="The requests of the key's organization, newest first, paginated with `limit` and `offset`; "
        "each item is the status object without its logs, plus its `polling_url`.",
        tags=[TAG],
        parameters=[
            OpenApiParameter("status", OpenApiTypes.STR, enum=list(Job.Status.values), description="Only this status."),
            OpenApiParameter(
                "limit",
                {"type": "integer", "minimum": 1},
                description="Page size (default 20; larger values give 100).",
            ),
            OpenApiParameter("offset", {"type": "integer", "minimum": 0}, description="Items to skip (default 0)."),
        ],
        responses={
            200: inline_serializer(
                "RequestListResponse",
                {
                    "count": serializers.IntegerField(),
                    "next": serializers.URLField(allow_null=True),
                    "previous": serializers.URLField(allow_null=True),
                    "results": RequestListItem(many=True),
                },
            ),
            **gateway_errors(400, 401, 403, 429, 500),
        },
    )
    def get(self, request: Request) -> Response:
        wanted = request.query_params.get("status") or None
        if wanted is not None and wanted not in Job.Status.values:
            raise InvalidInput(f"status: must be one of {', '.join(Job.Status.values)}.")
        paginator = RequestPagination()
        page = paginator.paginate_queryset(jobs_for(self.organization, status=wanted), request, view=self)
        base_url = self.base_url()
        items = []
        for job in page:
            item = job_status_payload(job, base_url=base_url)
            item.pop("logs", None)
            item["polling_url"] = polling_url(request, job.request_id)
            items.append(item)
        return paginator.get_paginated_response(items)


def _check_webhook_url(url: str) -> None:
    """The SSRF guard's refusal, named after the field like every other 400 of this endpoint
    (the same guard refuses image URLs, where its message stands alone)."""
    try:
        check_public_url(url)
    except OutboundURLError as exc:
        raise type(exc)(f"webhook: {exc.message}", headers=exc.headers, extra=exc.extra) from exc
