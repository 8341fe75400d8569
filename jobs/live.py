"""A request's live feed: its status and its log lines as they happen, as server-sent events.

The gateway's stream endpoint and the dashboard's job page read the same feed. Each connection
is bounded (``settings.LIVE_STREAM_MAX_S``): a web worker is never held for longer, and the
client's EventSource reconnects on its own, sending ``Last-Event-ID`` (the id of the last log
line it received) so no line is sent twice or lost.

Events:
  ``status``  the status object (without ``logs``) plus ``live``: current stage, faces found,
              elapsed seconds, once completed the output's size, and once final the amount
              charged (minor units; 0 when not charged); sent first and whenever it changes.
  ``log``     one log line ``{"at", "message"}``; its SSE id is the line's id.
  ``done``    the request reached a final status; the server closes the stream.

A reconnect (``Last-Event-ID`` sent) to a request that is final, with no line after that id,
answers 204 No Content: EventSource stops reconnecting on a 204.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass

from django.conf import settings
from django.http import StreamingHttpResponse
from django.utils import timezone

from jobs.models import Job, JobLog
from jobs.selectors import iso_ms, job_output_available, job_status_payload
from jobs.services import _STAGE_MESSAGES

# The log lines ``jobs.services._progress`` writes for the pipeline's stages.
STAGE_MESSAGES = tuple(_STAGE_MESSAGES.values())


@dataclass(frozen=True)
class StreamLimits:
    poll_s: float
    max_s: float
    heartbeat_s: float

    @classmethod
    def from_settings(cls) -> StreamLimits:
        return cls(
            poll_s=settings.LIVE_STREAM_POLL_MS / 1000,
            max_s=float(settings.LIVE_STREAM_MAX_S),
            heartbeat_s=float(settings.LIVE_STREAM_HEARTBEAT_S),
        )


def parse_last_event_id(raw: str | None) -> int:
    """The log id a reconnecting client last saw; anything unparsable starts from the beginning."""
    try:
        value = int(str(raw or "0").strip())
    except ValueError:
        return 0
    return max(value, 0)


def current_stage(job: Job, last_stage: str | None) -> str:
    if job.status == Job.Status.QUEUED:
        return "Waiting for a worker."
    if job.status == Job.Status.PROCESSING:
        return last_stage or "Starting."
    return job.get_status_display() + "."


def latest_stage(job: Job) -> str | None:
    line = JobLog.objects.filter(job=job, message__in=STAGE_MESSAGES).order_by("-created_at", "-id").first()
    return line.message if line else None


def output_size(job: Job) -> dict | None:
    """Pixels and bytes of a completed job's result (``bytes`` is None if the store cannot say)."""
    if not job_output_available(job):
        return None
    try:
        size = job.output_file.storage.size(job.output_file.name)
    except (OSError, NotImplementedError):
        size = None
    return {"width": job.output_width, "height": job.output_height, "bytes": size}


def live_status(job: Job, *, base_url: str, stage: str | None) -> dict:
    """The status event's body: the documented status object, ``logs`` left out, plus ``live``."""
    payload = job_status_payload(job, base_url=base_url, include_logs=False)
    payload.pop("logs", None)
    end = job.completed_at or timezone.now()
    payload["live"] = {
        "stage": current_stage(job, stage),
        "faces_detected": job.faces_detected,
        "started_at": iso_ms(job.started_at),
        "elapsed_s": round(max((end - job.created_at).total_seconds(), 0.0), 1),
        "output_size": output_size(job) if job.status == Job.Status.COMPLETED else None,
        "charged": payload["cost"]["charged"] if job.is_terminal else None,
    }
    return payload


def finished_before(job: Job, last_event_id: int) -> bool:
    """Whether a client reconnecting with ``last_event_id`` has already seen the whole of a
    final request: nothing is left to stream. EventSource reconnects on its own after ``done``
    (the server closing is to it a dropped connection); answering 204 stops it, as the SSE
    specification says, instead of replaying ``status`` and ``done`` every half second."""
    return job.is_terminal and not JobLog.objects.filter(job=job, id__gt=last_event_id).exists()


def _event(name: str, data, event_id: int | None = None) -> str:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def job_event_stream(
    *, organization, job_id, base_url: str, last_event_id: int = 0, limits: StreamLimits | None = None
) -> Iterator[str]:
    """Yield SSE text for one job until it is final or the connection's time is up.

    The caller has already checked the job belongs to ``organization`` (a 404 before streaming);
    every read here is still scoped to it.
    """
    limits = limits or StreamLimits.from_settings()
    started = time.monotonic()
    last_beat = started
    # Ask the browser to reconnect quickly when the bounded stream ends.
    yield f"retry: {max(int(limits.poll_s * 1000), 500)}\n\n"
    stage = None
    sent_status = None
    cursor = last_event_id
    first = True
    while True:
        # The lines first, then the job: the status sent is never older than the lines sent with
        # it (read the other way round, "Processing started" could arrive beside QUEUED).
        lines = list(JobLog.objects.filter(job_id=job_id, job__organization=organization, id__gt=cursor).order_by("id"))
        job = Job.objects.filter(organization=organization, id=job_id).first()
        if job is None:  # deleted meanwhile (organization closed)
            yield _event("done", {"status": None})
            return
        for line in lines:
            if line.message in STAGE_MESSAGES:
                stage = line.message
        if first and stage is None and job.status == Job.Status.PROCESSING:
            stage = latest_stage(job)
        first = False
        status = live_status(job, base_url=base_url, stage=stage)
        # elapsed_s changes every poll; it alone is not a change worth an event.
        fingerprint = {**status, "live": {**status["live"], "elapsed_s": None}}
        if fingerprint != sent_status:
            # First, as documented, and whenever it changes; its id is the last line sent before.
            sent_status = fingerprint
            last_beat = time.monotonic()
            yield _event("status", status, event_id=cursor or None)
        for line in lines:
            cursor = line.id
            yield _event("log", {"at": iso_ms(line.created_at), "message": line.message}, event_id=line.id)
        if job.is_terminal:
            yield _event("done", {"status": job.status}, event_id=cursor or None)
            return
        now = time.monotonic()
        if now - started >= limits.max_s:
            return
        if now - last_beat >= limits.heartbeat_s:
            last_beat = now
            yield ": keep-alive\n\n"
        time.sleep(limits.poll_s)


def event_stream_response(events: Iterator[str]) -> StreamingHttpResponse:
    response = StreamingHttpResponse(events, content_type="text/event-stream; charset=utf-8")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx: pass events through as they come
    return response
