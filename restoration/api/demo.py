"""The synchronous demo API: submit images as jobs, wait for them, answer the results."""

from __future__ import annotations

import base64
import functools
from collections.abc import Callable

from django.conf import settings
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from jobs.media import media_url
from jobs.models import Job
from jobs.services import job_admission_precheck, job_submit, jobs_wait
from jobs.types import ImageInput, JobParams
from restoration import intake
from restoration.api.base import KeyedAPIView, check_model_enabled, is_multipart, request_body_limit
from restoration.api.docs import EXAMPLE_IMAGE_BASE64, IDEMPOTENCY_KEY_HEADER, demo_errors
from restoration.api.serializers import DemoJSONRequest, DemoMultipartRequest, DemoSuccessResponse
from restoration.api.submission import idempotency_key_from, replay_headers, request_fingerprint
from restoration.errors import DemoJobsFailed, DemoTimeout, InvalidInput

TAG = "Demo API"


class ProcessView(KeyedAPIView):
    error_style = "demo"

    def body_limit(self) -> int:
        return request_body_limit(images=settings.MAX_IMAGES_PER_REQUEST)

    @extend_schema(
        operation_id="demo_process",
        summary="Restore images and wait for the results",
        description="Multipart `image` files (one or more) or JSON `image_base64` / `images_base64`. The images "
        "become jobs of your organization (priced and held like any request) and the answer waits for them, "
        f"up to DEMO_SYNC_TIMEOUT_S (default {settings.DEMO_SYNC_TIMEOUT_S} s); jobs not finished by then are "
        "canceled and not charged.",
        tags=[TAG],
        request={
            "multipart/form-data": DemoMultipartRequest,
            "application/json": DemoJSONRequest,
            "application/x-www-form-urlencoded": DemoJSONRequest,
        },
        parameters=[IDEMPOTENCY_KEY_HEADER],
        responses={
            200: OpenApiResponse(DemoSuccessResponse, description="Every image restored."),
            **demo_errors(400, 401, 402, 403, 409, 411, 413, 415, 422, 429, 500, 504),
        },
        examples=[
            OpenApiExample(
                "Base64",
                request_only=True,
                media_type="application/json",
                value={
                    "image_base64": f"data:image/png;base64,{EXAMPLE_IMAGE_BASE64}",
                    "fidelity": 0.5,
                    "return_base64": True,
                },
            )
        ],
    )
    def post(self, request: Request) -> Response:
        data = self.read_body(request)
        multipart = is_multipart(request)
        serializer = (DemoMultipartRequest if multipart else DemoJSONRequest)(data=data)
        serializer.is_valid(raise_exception=True)
        fields = serializer.validated_data
        check_model_enabled(fields["model"])
        idempotency_key = idempotency_key_from(request)
        params = JobParams.from_values(fields)
        sources = _image_sources(fields)
        # Refuse an organization that cannot pay before decoding what may be several large images.
        job_admission_precheck(
            organization=self.organization, params=params, api_key=self.api_key, image_count=len(sources)
        )
        images = [decode() for decode in sources]
        jobs, created = job_submit(
            organization=self.organization,
            params=params,
            images=images,
            source=Job.Source.DEMO,
            api_key=self.api_key,
            idempotency_key=idempotency_key,
            # Only a retry with the same key compares it: no key, no hash of the uploads.
            fingerprint=request_fingerprint(endpoint="process", params=params, images=images)
            if idempotency_key
            else "",
            base_url=self.base_url(),
        )
        finished = self._wait(jobs)
        answer = self._answer(finished, return_base64=fields["return_base64"])
        return Response(answer, headers=replay_headers(created=created))

    def _wait(self, jobs: list[Job]) -> list[Job]:
        timeout_s = settings.DEMO_SYNC_TIMEOUT_S
        reason = (
            f"Timed out: the demo API waits at most {timeout_s} seconds (DEMO_SYNC_TIMEOUT_S) and this image "
            "was not restored by then; canceled and not charged."
        )
        finished, canceled = jobs_wait(
            organization=self.organization, jobs=jobs, timeout_s=timeout_s, cancel_reason=reason
        )
        if canceled:
            raise DemoTimeout(
                f"{len(canceled)} of {len(finished)} image(s) were not restored within "
                f"{timeout_s} seconds; they were canceled and not charged.",
                extra={"request_ids": [job.request_id for job in canceled]},
            )
        return finished

    def _answer(self, jobs: list[Job], *, return_base64: bool) -> dict:
        base_url = self.base_url()
        results, failures = [], []
        for job in jobs:
            if job.status != Job.Status.COMPLETED:
                failures.append(job)
                continue
            item = {
                "original_name": job.input_name,
                "filename": f"api_result_{job.id}.png",
                "image_url": media_url(job, "output", base_url=base_url),
                "request_id": job.request_id,
            }
            if return_base64:
                with job.output_file.open("rb") as output:
                    item["image_base64"] = base64.b64encode(output.read()).decode("ascii")
            results.append(item)
        if failures:
            raise _failure(failures, results)
        return {"status": "success", "count": len(results), "results": results}


def _image_sources(fields: dict) -> list[Callable[[], ImageInput]]:
    """One callable per image of the request, which validates and decodes it when called."""
    uploads = fields.get("image") or []
    encoded = []
    if fields.get("image_base64"):
        encoded.append(("image_base64", fields["image_base64"]))
    encoded.extend((f"images_base64[{index}]", text) for index, text in enumerate(fields.get("images_base64") or []))
    count = len(uploads) + len(encoded)
    if count == 0:
        raise InvalidInput("No image: send multipart `image` file(s), or JSON `image_base64` / `images_base64`.")
    if count > settings.MAX_IMAGES_PER_REQUEST:
        raise InvalidInput(f"At most {settings.MAX_IMAGES_PER_REQUEST} images per request; got {count}.")
    sources = [functools.partial(intake.image_from_upload, upload, field="image") for upload in uploads]
    sources.extend(functools.partial(intake.image_from_base64, text, field=field) for field, text in encoded)
    return sources


def _failure(failures: list[Job], results: list[dict]) -> DemoJobsFailed:
    statuses = {job.status for job in failures}
    if Job.Status.ERROR in statuses:
        code = status.HTTP_500_INTERNAL_SERVER_ERROR
    elif Job.Status.CANCELED in statuses:
        code = status.HTTP_409_CONFLICT
    else:
        code = status.HTTP_422_UNPROCESSABLE_ENTITY
    reasons = "; ".join(f"{job.input_name or job.request_id}: {job.error or job.status}" for job in failures)
    return DemoJobsFailed(
        f"{len(failures)} of {len(failures) + len(results)} image(s) could not be restored: {reasons}",
        status_code=code,
        extra={
            "failed": [
                {
                    "original_name": job.input_name,
                    "request_id": job.request_id,
                    "status": job.status,
                    "error": job.error,
                }
                for job in failures
            ],
            "results": results,
        },
    )
