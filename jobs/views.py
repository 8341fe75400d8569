"""Signed downloads of job files stored on the local filesystem."""

from __future__ import annotations

from django.core import signing
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from jobs.media import download_name, file_for, unsign_media_token
from jobs.models import Job


@require_GET
def media_download(request: HttpRequest, token: str, filename: str) -> HttpResponse:
    """Serve a job's input or output. The token alone authorizes (it is signed and expires);
    files of purged or moderated jobs answer 410 Gone."""
    try:
        job_id, kind = unsign_media_token(token)
    except signing.SignatureExpired:
        return HttpResponse("This link has expired.", status=410, content_type="text/plain")
    except signing.BadSignature as exc:
        raise Http404("No such file.") from exc
    try:
        job = Job.objects.get(id=job_id)
    except (Job.DoesNotExist, ValidationError) as exc:
        raise Http404("No such file.") from exc
    if filename != download_name(job, kind):
        raise Http404("No such file.")
    if job.moderated_at:
        return HttpResponse(
            "This file was taken down by our trust and safety team; the request's status says why.",
            status=410,
            content_type="text/plain",
        )
    if job.files_purged_at:
        return HttpResponse(
            "This file was deleted at the end of its retention period.", status=410, content_type="text/plain"
        )
    field = file_for(job, kind)
    if not field.name:
        raise Http404("No such file.")
    try:
        handle = field.storage.open(field.name, "rb")
    except FileNotFoundError as exc:
        raise Http404("No such file.") from exc
    content_type = "image/png" if kind == "output" else None
    response = FileResponse(handle, content_type=content_type, filename=filename)
    response["Cache-Control"] = "private, max-age=300"
    response["X-Content-Type-Options"] = "nosniff"
    return response


@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus exposition of the fleet's shared state (``jobs.metrics.StateCollector``) and this
    process's own metrics, for a bearer of ``METRICS_TOKEN``; 404 to anyone else (and to everyone
    while no token is configured), so business volumes are never public."""
    import hmac

    from django.conf import settings
    from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

    from jobs.metrics import install_state_collector

    token = settings.METRICS_TOKEN
    given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    if not token or not hmac.compare_digest(given.encode(), token.encode()):
        raise Http404("No such page.")
    install_state_collector(REGISTRY)
    return HttpResponse(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST)
