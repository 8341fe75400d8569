"""Webhook events, signed per the Standard Webhooks specification.

Each event becomes one ``WebhookDelivery`` row per receiver: the request's own ``webhook`` (job
events it asked for) and every enabled ``WebhookEndpoint`` of the organization subscribed to the
event (job events of all its jobs, billing.* events, a test event). The row is created in the
same transaction as the state change it reports and handed to the ``webhooks`` queue once that
transaction commits. A delivery is tried until the receiver answers 2xx, with the back-off of
``settings.WEBHOOK_RETRY_DELAYS_S``; every try is a ``WebhookAttempt`` row (what was sent, what
came back) the organization can read. A job event's body is the job's status object at the time
of the event; other events carry their own body.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from dramatiq.middleware.time_limit import TimeLimitExceeded
from standardwebhooks import Webhook

from config.errors import BadRequest
from jobs.metrics import record_webhook_attempt
from jobs.models import REQUEST_ID_PREFIX, Job, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from lib import logcontext
from lib.base_url import stored_base_url
from lib.db import settle_after_interrupt
from lib.netfetch import UnsafeURL, check_public_url, post_public_json_answer

logger = logging.getLogger(__name__)

ALL_EVENTS = [choice.value for choice in WebhookDelivery.Event]
# A delivery whose message should have run this long ago was lost (broker restart, dead worker).
LOST_DELIVERY_GRACE = timedelta(minutes=10)
# How much of a receiver's answer an attempt keeps for the organization to read.
RESPONSE_EXCERPT_CHARS = 2000


def webhook_events_normalize(events: list[str] | None) -> list[str]:
    """The filter a client asked for; none means every event."""
    if not events:
        return list(ALL_EVENTS)
    unknown = sorted({str(event) for event in events} - set(ALL_EVENTS))
    if unknown:
        raise BadRequest(f"Unknown webhook event(s): {', '.join(unknown)}. Allowed: {', '.join(ALL_EVENTS)}.")
    return [event for event in ALL_EVENTS if event in events]


def job_base_url(job: Job) -> str:
    return stored_base_url(job.base_url)


def webhook_emit(*, job: Job, event: str) -> WebhookDelivery | None:
    """Record one job event for the job's own webhook (if it has one and its filter wants the
    event) and for each enabled endpoint of the organization subscribed to it; each is sent once
    the surrounding transaction commits. Returns the job's own delivery."""
    endpoints = endpoints_subscribed(job.organization_id, event)
    wanted = bool(job.webhook_url) and event in (job.webhook_events or ALL_EVENTS)
    if not wanted and not endpoints:
        return None
    from jobs.selectors import job_status_payload  # selectors import media; keep this module light

    payload = job_status_payload(job, base_url=job_base_url(job))
    own = None
    if wanted:
        own = delivery_create(
            organization_id=job.organization_id, job=job, event=event, url=job.webhook_url, payload=payload
        )
    for endpoint in endpoints:
        delivery_create(organization_id=job.organization_id, job=job, event=event, payload=payload, endpoint=endpoint)
    return own


def event_emit(*, organization_id, event: str, payload: dict) -> list[WebhookDelivery]:
    """Record an event that is not a job's (billing.*) for every enabled endpoint subscribed."""
    return [
        delivery_create(organization_id=organization_id, event=event, payload=payload, endpoint=endpoint)
        for endpoint in endpoints_subscribed(organization_id, event)
    ]


def endpoints_subscribed(organization_id, event: str) -> list[WebhookEndpoint]:
    # Filtered here, not with a JSON ``contains`` lookup: SQLite (make run) has none, and an
    # organization has a handful of endpoints.
    endpoints = WebhookEndpoint.objects.filter(organization_id=organization_id, enabled=True)
    return [endpoint for endpoint in endpoints if event in (endpoint.events or [])]


def delivery_create(
    *,
    organization_id,
    event: str,
    payload: dict,
    url: str = "",
    job: Job | None = None,
    endpoint: WebhookEndpoint | None = None,
    replay_of: WebhookDelivery | None = None,
) -> WebhookDelivery:
    delivery = WebhookDelivery(
        organization_id=organization_id,
        job=job,
        endpoint=endpoint,
        replay_of=replay_of,
        event=event,
        url=endpoint.url if endpoint is not None and not url else url,
        payload=payload,
        next_attempt_at=timezone.now(),
    )
    delivery.full_clean(validate_constraints=False)
    delivery.save()
    transaction.on_commit(lambda: _send(delivery.id))
    return delivery


@transaction.atomic
def webhook_delivery_replay(*, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send a delivery again as a new delivery: same receiver, same body, the same message id
    (``webhook-id``) so a receiver that handled the original can tell it is a repeat."""
    original = delivery.replay_of or delivery
    return delivery_create(
        organization_id=delivery.organization_id,
        job=delivery.job,
        endpoint=delivery.endpoint,
        event=delivery.event,
        url=delivery.url,
        payload=delivery.payload,
        replay_of=original,
    )


def _send(delivery_id, *, delay_ms: int | None = None) -> None:
    from jobs.actors import deliver_webhook

    if delay_ms:
        deliver_webhook.send_with_options(args=(str(delivery_id),), delay=delay_ms)
    else:
        deliver_webhook.send(str(delivery_id))


def signing_secrets(organization) -> list[str]:
    """The current secret, plus the previous one while the rotation overlap lasts."""
    secrets = [organization.webhook_secret]
    rotated_at = organization.webhook_secret_rotated_at
    overlap = timedelta(hours=settings.WEBHOOK_SECRET_OVERLAP_HOURS)
    if organization.previous_webhook_secret and rotated_at is not None and timezone.now() < rotated_at + overlap:
        secrets.append(organization.previous_webhook_secret)
    return secrets


def signed_headers(*, organization, message_id: str, body: str, event: str = "") -> dict[str, str]:
    """The headers of a delivery. The signatures are HMACs of the body, not the secret: they are
    what an attempt's record shows of what was sent."""
    now = timezone.now()
    signatures = " ".join(Webhook(secret).sign(message_id, now, body) for secret in signing_secrets(organization))
    headers = {
        "user-agent": "codeformer-webhooks/1.0",
        "webhook-id": message_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signatures,
    }
    if event:
        headers["webhook-event"] = event
    return headers


def _body_for(delivery: WebhookDelivery) -> str:
    """The stored status object; media links are re-signed so a late retry still downloads."""
    payload = dict(delivery.payload)
    if delivery.job_id is not None and payload.get("output"):
        from jobs.media import media_url
        from jobs.selectors import job_output_available

        job = delivery.job
        if job_output_available(job):
            payload["output"] = {
                **payload["output"],
                "media_url": [media_url(job, "output", base_url=job_base_url(job))],
            }
        else:
            payload["output"] = None
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)


def _claim_attempt(delivery_id) -> WebhookDelivery | None:
    """Take the next attempt of a pending delivery, or None if it is done, not due yet, or
    another worker already took this attempt (duplicate or re-swept message)."""
    delivery = WebhookDelivery.objects.select_related("organization", "job").filter(id=delivery_id).first()
    if delivery is None or delivery.status != WebhookDelivery.Status.PENDING:
        return None
    if delivery.next_attempt_at is None or delivery.next_attempt_at > timezone.now() + timedelta(seconds=1):
        # In flight elsewhere, or an early duplicate of a delayed retry.
        return None
    claimed = WebhookDelivery.objects.filter(
        id=delivery.id, status=WebhookDelivery.Status.PENDING, attempt_count=delivery.attempt_count
    ).update(attempt_count=delivery.attempt_count + 1, next_attempt_at=None, updated_at=timezone.now())
    if not claimed:
        return None
    delivery.attempt_count += 1
    return delivery


def webhook_deliver(*, delivery_id) -> WebhookAttempt | None:
    """Make one attempt at a delivery and schedule the next one if it failed."""
    delivery = _claim_attempt(delivery_id)
    if delivery is None:
        return None
    request_id = f"{REQUEST_ID_PREFIX}{delivery.job_id}" if delivery.job_id else ""
    with logcontext.log_context(request_id=request_id):
        return _attempt(delivery)


def _attempt(delivery: WebhookDelivery) -> WebhookAttempt:
    sent: dict = {"body": "", "headers": {}}
    status_code = latency_ms = None
    response_body = error = ""
    permanent = False
    try:
        # Checked again at send time: the name may resolve elsewhere than when the job was made.
        check_public_url(delivery.url)
        sent["body"] = _body_for(delivery)
        sent["headers"] = signed_headers(
            organization=delivery.organization, message_id=delivery.message_id, body=sent["body"], event=delivery.event
        )
        answer = post_public_json_answer(
            delivery.url, body=sent["body"].encode(), headers=sent["headers"], timeout=settings.WEBHOOK_TIMEOUT_S
        )
        status_code, latency_ms = answer.status, answer.elapsed_ms
        response_body = answer.body.decode("utf-8", "replace")[:RESPONSE_EXCERPT_CHARS]
    except TimeLimitExceeded:
        settle_after_interrupt(connection)
        # A BaseException, raised into this thread by Dramatiq: without recording the attempt here
        # the sweep would find it claimed-but-unrecorded and send it again without end.
        logger.warning("webhook %s attempt %s stopped by the time limit", delivery.id, delivery.attempt_count)
        error = "the attempt was stopped by the worker's time limit"
    except Exception as exc:  # any failure to reach the receiver is recorded, never raised
        error = f"{type(exc).__name__}: {exc}"[:500]
        # A URL that now points somewhere private will not become safe by retrying.
        permanent = isinstance(exc, UnsafeURL)
    else:
        if not 200 <= status_code < 300:
            error = f"receiver answered HTTP {status_code}"
    return _record_attempt(
        delivery,
        status_code=status_code,
        latency_ms=latency_ms,
        error=error,
        permanent=permanent,
        request_body=sent["body"],
        request_headers=sent["headers"],
        response_body=response_body,
    )


@transaction.atomic
def _record_attempt(
    delivery: WebhookDelivery,
    *,
    status_code,
    latency_ms,
    error: str,
    permanent: bool,
    request_body: str = "",
    request_headers: dict | None = None,
    response_body: str = "",
) -> WebhookAttempt:
    attempt = WebhookAttempt.objects.create(
        delivery=delivery,
        number=delivery.attempt_count,
        status_code=status_code,
        latency_ms=int(latency_ms) if latency_ms is not None else None,
        error=error,
        request_body=request_body,
        request_headers=request_headers or {},
        response_body=response_body,
    )
    delays = settings.WEBHOOK_RETRY_DELAYS_S
    update: dict = {"updated_at": timezone.now()}
    if not error:
        update["status"] = WebhookDelivery.Status.SUCCEEDED
    elif permanent or delivery.attempt_count > len(delays):
        update["status"] = WebhookDelivery.Status.FAILED
    else:
        delay_s = delays[delivery.attempt_count - 1]
        update["next_attempt_at"] = timezone.now() + timedelta(seconds=delay_s)
        transaction.on_commit(lambda: _send(delivery.id, delay_ms=delay_s * 1000))
    WebhookDelivery.objects.filter(id=delivery.id, attempt_count=delivery.attempt_count).update(**update)
    outcome = "succeeded" if not error else ("gave_up" if "status" in update else "failed")
    transaction.on_commit(lambda: record_webhook_attempt(outcome=outcome))
    if error:
        logger.info("webhook %s attempt %s failed: %s", delivery.id, delivery.attempt_count, error)
    else:
        logger.info("webhook %s attempt %s delivered (HTTP %s)", delivery.id, delivery.attempt_count, status_code)
    return attempt


def webhook_sweep(*, now=None) -> int:
    """Re-send pending deliveries whose message was lost. Returns how many were re-sent."""
    now = now or timezone.now()
    cutoff = now - LOST_DELIVERY_GRACE
    overdue = WebhookDelivery.objects.filter(status=WebhookDelivery.Status.PENDING, next_attempt_at__lt=cutoff)
    stuck = WebhookDelivery.objects.filter(
        status=WebhookDelivery.Status.PENDING,
        next_attempt_at__isnull=True,
        updated_at__lt=cutoff - timedelta(seconds=settings.WEBHOOK_TIMEOUT_S),
    )
    overdue_ids = list(overdue.values_list("id", flat=True))
    # Claimed but never recorded: the worker died mid-attempt. That attempt counts (recorded as
    # failed), so a receiver that kills workers still runs out of retries and the delivery ends.
    recovered = 0
    for delivery in stuck.select_related("organization"):
        recovered += _record_lost_attempt(delivery)
    for delivery_id in overdue_ids:
        _send(delivery_id)
    return len(overdue_ids) + recovered


def _record_lost_attempt(delivery: WebhookDelivery) -> int:
    with transaction.atomic():
        # Take the row only if it is still claimed-but-unrecorded (a late worker may have finished).
        still_stuck = WebhookDelivery.objects.filter(
            id=delivery.id,
            status=WebhookDelivery.Status.PENDING,
            next_attempt_at__isnull=True,
            attempt_count=delivery.attempt_count,
        ).exists()
        if not still_stuck or WebhookAttempt.objects.filter(delivery=delivery, number=delivery.attempt_count).exists():
            return 0
        _record_attempt(
            delivery,
            status_code=None,
            latency_ms=None,
            error="the attempt did not finish (the worker stopped)",
            permanent=False,
        )
    return 1
