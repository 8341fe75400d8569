"""Reads of jobs, their status object, webhook deliveries and worker health.

Every tenant-owned read takes the organization first; another tenant's job is a 404.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db.models import Prefetch, QuerySet
from django.utils import timezone

from billing.selectors import job_charge, with_job_charges
from config.errors import NotFound
from jobs.media import media_url
from jobs.models import (
    REQUEST_ID_PREFIX,
    Job,
    JobLog,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WorkerHeartbeat,
)
from lib.breaker import breaker_of


def parse_request_id(request_id: str) -> uuid.UUID | None:
    """The job id inside ``codeformer-image-restoration_<uuid>`` (a bare uuid is accepted too)."""
    raw = (request_id or "").strip()
    if raw.startswith(REQUEST_ID_PREFIX):
        raw = raw[len(REQUEST_ID_PREFIX) :]
    try:
        return uuid.UUID(raw)
    except ValueError:
        return None


def job_get(*, organization, request_id: str) -> Job:
    job_id = parse_request_id(request_id)
    if job_id is None:
        raise NotFound("No request with this id.")
    try:
        # The wallet for the status object's cost currency, in the same query.
        return Job.objects.select_related("organization__plan", "organization__wallet").get(
            id=job_id, organization=organization
        )
    except Job.DoesNotExist as exc:
        raise NotFound("No request with this id.") from exc


def jobs_for(organization, *, status: str | None = None, source: str | None = None, api_key=None) -> QuerySet[Job]:
    """The organization's jobs, newest first, each with what it was charged and refunded read in
    the same query (a page of status objects costs no query per job for its ``cost``)."""
    qs = with_job_charges(Job.objects.filter(organization=organization))
    if status:
        qs = qs.filter(status=status)
    if source:
        qs = qs.filter(source=source)
    if api_key is not None:
        qs = qs.filter(api_key=api_key)
    return qs.order_by("-created_at")


def job_logs(job: Job) -> QuerySet[JobLog]:
    return JobLog.objects.filter(job=job).order_by("created_at", "id")


def iso_ms(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with milliseconds and a Z, as the gateway document writes times."""
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def retention_expires_at(job: Job) -> datetime | None:
    if job.completed_at is None:
        return None
    from jobs.retention import retention_hours

    # The organization's plan decides how long files are kept.
    return job.completed_at + timedelta(hours=retention_hours(job.organization.plan))


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return round((end - start).total_seconds(), 3)


def job_output_available(job: Job) -> bool:
    return (
        job.status == Job.Status.COMPLETED
        and bool(job.output_file.name)
        and job.files_purged_at is None
        and job.moderated_at is None
    )


def job_status_payload(job: Job, *, base_url: str, include_logs: bool = True) -> dict:
    """The documented status object, plus logs, timings and retention (``include_logs=False``
    leaves the logs out, for the live feed, which sends them as events of their own)."""
    output = None
    if job_output_available(job):
        output = {"media_url": [media_url(job, "output", base_url=base_url)], "media_type": "image/png"}
    files_deleted = job.files_purged_at is not None or job.moderated_at is not None
    return {
        "request_id": job.request_id,
        "status": job.status,
        "model_id": job.model_id,
        "error": job.error or None,
        "output": output,
        "created_at": iso_ms(job.created_at),
        "updated_at": iso_ms(job.updated_at),
        "completed_at": iso_ms(job.completed_at),
        # job.logs.all() (Meta ordering: created_at, id) uses a prefetch when the caller made one.
        "logs": [{"at": iso_ms(line.created_at), "message": line.message} for line in job.logs.all()]
        if include_logs
        else None,
        "timings": {
            "queue_wait_s": _seconds(job.created_at, job.started_at),
            "processing_s": _seconds(job.started_at, job.completed_at),
            "stages": job.timings or {},
        },
        "upscale_applied": upscale_applied(job),
        "retention": {
            "expires_at": iso_ms(retention_expires_at(job)),
            "files_deleted": files_deleted,
        },
        "moderation": job_moderation_notice(job),
        "cost": job_cost(job),
    }


def job_cost(job: Job) -> dict:
    """What the request costs, in minor units (cents) of ``currency``: ``price`` (held while it
    is in flight), ``charged`` (taken when it completed; 0 when it failed, errored or was
    canceled) and ``refunded`` (what our staff gave back for it)."""
    charge = job_charge(job)
    return {"currency": charge.currency, "price": job.price, "charged": charge.charged, "refunded": charge.refunded}


def job_moderation_notice(job: Job) -> dict | None:
    """What the customer is told when trust and safety hid or removed the job's files."""
    if job.moderated_at is None:
        return None
    return {
        "action": "removed" if job.files_purged_at is not None else "hidden",
        "message": job.moderation_note or "This result was taken down by our trust and safety team.",
        "at": iso_ms(job.moderated_at),
    }


def upscale_applied(job: Job) -> int | None:
    """The upscale the output was made with (lower than asked only when the output cap forced it)."""
    if job.status != Job.Status.COMPLETED or not job.output_width or not job.input_width:
        return None
    return max(1, round(job.output_width / job.input_width))


def webhook_deliveries_for(
    organization, job: Job | None = None, endpoint: WebhookEndpoint | None = None
) -> QuerySet[WebhookDelivery]:
    qs = WebhookDelivery.objects.filter(organization=organization)
    if job is not None:
        qs = qs.filter(job=job)
    if endpoint is not None:
        qs = qs.filter(endpoint=endpoint)
    # The list shows each attempt's outcome, not the bodies and headers it sent.
    attempts = Prefetch(
        "attempts",
        queryset=WebhookAttempt.objects.defer("request_body", "request_headers", "response_body").order_by("number"),
    )
    return qs.select_related("job", "endpoint").prefetch_related(attempts).order_by("-created_at")


def webhook_delivery_get(organization, delivery_id) -> WebhookDelivery:
    try:
        return (
            WebhookDelivery.objects.select_related("job", "endpoint", "replay_of")
            .prefetch_related(Prefetch("attempts", queryset=WebhookAttempt.objects.order_by("number")))
            .get(id=delivery_id, organization=organization)
        )
    except (WebhookDelivery.DoesNotExist, ValueError, TypeError) as exc:
        raise NotFound("No such webhook delivery.") from exc


def webhook_endpoints_for(organization) -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.filter(organization=organization).order_by("created_at")


def webhook_endpoint_get(organization, endpoint_id) -> WebhookEndpoint:
    try:
        return WebhookEndpoint.objects.get(id=endpoint_id, organization=organization)
    except (WebhookEndpoint.DoesNotExist, ValueError, TypeError) as exc:
        raise NotFound("No such webhook endpoint.") from exc


def worker_status() -> dict:
    """Whether a gpu worker has written its heartbeat recently, and on which device it runs."""
    beat = WorkerHeartbeat.objects.order_by("-seen_at").first()
    if beat is None:
        return {"alive": False, "last_seen_at": None, "device": None}
    # The same window the stale-job sweep uses (three missed beats by default): one slow write
    # is not an outage.
    fresh_after = timezone.now() - timedelta(seconds=settings.WORKER_DEAD_AFTER_S)
    return {"alive": beat.seen_at >= fresh_after, "last_seen_at": beat.seen_at, "device": beat.device}


def queue_depth() -> int:
    return Job.objects.filter(status=Job.Status.QUEUED).count()


def broker_status() -> str:
    """``up`` when the broker's Redis answers a ping (within REDIS_SOCKET_TIMEOUT_S), ``down``
    when it does not or this process's breaker has it switched off, ``not configured`` for an
    in-memory broker (the embedded default)."""
    import dramatiq

    broker = dramatiq.get_broker()
    client = getattr(broker, "client", None)
    if client is None:
        return "not configured"
    breaker = breaker_of(broker, open_for_s=settings.REDIS_FAIL_OPEN_S)
    if not breaker.allows():
        return "down"
    try:
        client.ping()
    except Exception:
        breaker.record_failure()
        return "down"
    breaker.record_success()
    return "up"
