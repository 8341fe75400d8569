"""Webhook events for jobs, signed per the Standard Webhooks specification.

Each event for a job becomes one ``WebhookDelivery`` row, created in the same transaction as the
state change it reports and handed to the ``webhooks`` queue once that transaction commits. A
delivery is tried until the receiver answers 2xx, with the back-off of
``settings.WEBHOOK_RETRY_DELAYS_S``; every try is a ``WebhookAttempt`` row the organization can
read. The body is the job's status object at the time of the event.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from dramatiq.middleware.time_limit import TimeLimitExceeded
from standardwebhooks import Webhook

from config.errors import BadRequest
from jobs.metrics import record_webhook_attempt
from jobs.models import REQUEST_ID_PREFIX, Job, WebhookAttempt, WebhookDelivery
from lib import logcontext
from lib.base_url import stored_base_url
from lib.netfetch import UnsafeURL, check_public_url, post_public_json

logger = logging.getLogger(__name__)

ALL_EVENTS = [choice.value for choice in WebhookDelivery.Event]
# A delivery whose message should have run this long ago was lost (broker restart, dead worker).
LOST_DELIVERY_GRACE = timedelta(minutes=10)


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
    """Record one event for the job's webhook (if it has one and the filter wants the event) and
    send it once the surrounding transaction commits."""
    if not job.webhook_url or event not in (job.webhook_events or ALL_EVENTS):
        return None
    from jobs.selectors import job_status_payload  # selectors import media; keep this module light

    delivery = WebhookDelivery(
        organization_id=job.organization_id,
        job=job,
        event=event,
        url=job.webhook_url,
        payload=job_status_payload(job, base_url=job_base_url(job)),
        next_attempt_at=timezone.now(),
    )
    delivery.full_clean(validate_constraints=False)
    delivery.save()
    transaction.on_commit(lambda: _send(delivery.id))
    return delivery


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


def signed_headers(*, organization, message_id: str, body: str) -> dict[str, str]:
    now = timezone.now()
    signatures = " ".join(Webhook(secret).sign(message_id, now, body) for secret in signing_secrets(organization))
    return {
        "user-agent": "codeformer-webhooks/1.0",
        "webhook-id": message_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signatures,
    }


def _body_for(delivery: WebhookDelivery) -> str:
    """The stored status object; media links are re-signed so a late retry still downloads."""
    payload = dict(delivery.payload)
    if payload.get("output"):
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
    status_code = latency_ms = None
    error = ""
    permanent = False
    try:
        # Checked again at send time: the name may resolve elsewhere than when the job was made.
        check_public_url(delivery.url)
        body = _body_for(delivery)
        headers = signed_headers(organization=delivery.organization, message_id=delivery.message_id, body=body)
        status_code, latency_ms = post_public_json(
            delivery.url, body=body.encode(), headers=headers, timeout=settings.WEBHOOK_TIMEOUT_S
        )
    except TimeLimitExceeded:
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
    return _record_attempt(delivery, status_code=status_code, latency_ms=latency_ms, error=error, permanent=permanent)


@transaction.atomic
def _record_attempt(
    delivery: WebhookDelivery, *, status_code, latency_ms, error: str, permanent: bool
) -> WebhookAttempt:
    attempt = WebhookAttempt.objects.create(
        delivery=delivery,
        number=delivery.attempt_count,
        status_code=status_code,
        latency_ms=int(latency_ms) if latency_ms is not None else None,
        error=error,
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
