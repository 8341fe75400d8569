"""Webhook endpoints of an organization: where the events of all its jobs (and its billing
events) go, in addition to a request's own ``webhook``. Owners and admins write them from the
dashboard through these services; deliveries go through ``jobs.webhooks`` like every other."""

from __future__ import annotations

import uuid

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from config.errors import BadRequest, Conflict
from jobs.models import WebhookDelivery, WebhookEndpoint
from jobs.webhooks import ALL_EVENTS as JOB_EVENTS
from jobs.webhooks import delivery_create
from lib.netfetch import check_public_url

MAX_ENDPOINTS = 20


def billing_events() -> list[str]:
    from billing.notify import EVENT_TYPES  # billing builds on jobs, not the other way round

    return list(EVENT_TYPES.values())


def endpoint_events() -> list[str]:
    """Every event an endpoint can subscribe to, in the order the form lists them."""
    return [*JOB_EVENTS, *billing_events()]


def _clean_events(events) -> list[str]:
    allowed = endpoint_events()
    chosen = [str(event) for event in events or []]
    unknown = sorted(set(chosen) - set(allowed))
    if unknown:
        raise BadRequest(f"Unknown event(s): {', '.join(unknown)}.")
    if not chosen:
        raise BadRequest("Choose at least one event for the endpoint to receive.")
    return [event for event in allowed if event in chosen]


def _save(endpoint: WebhookEndpoint, *, url: str, events, description: str, enabled: bool) -> WebhookEndpoint:
    endpoint.url = (url or "").strip()
    # Refused here as well as at each send: a URL that reaches our own network is never stored.
    check_public_url(endpoint.url)
    endpoint.events = _clean_events(events)
    endpoint.description = (description or "").strip()
    endpoint.enabled = bool(enabled)
    try:
        endpoint.full_clean(exclude=["organization"])
    except ValidationError as exc:
        raise BadRequest("; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())) from exc
    endpoint.save()
    return endpoint


@transaction.atomic
def webhook_endpoint_create(
    *, organization, url: str, events: list[str], description: str = "", enabled: bool = True
) -> WebhookEndpoint:
    # The organization row is the lock that keeps two concurrent creations under the cap.
    type(organization).objects.select_for_update().filter(pk=organization.pk).first()
    if WebhookEndpoint.objects.filter(organization=organization).count() >= MAX_ENDPOINTS:
        raise Conflict(f"An organization can have at most {MAX_ENDPOINTS} webhook endpoints.")
    endpoint = WebhookEndpoint(organization=organization)
    return _save(endpoint, url=url, events=events, description=description, enabled=enabled)


@transaction.atomic
def webhook_endpoint_update(
    *, endpoint: WebhookEndpoint, url: str, events: list[str], description: str, enabled: bool
) -> WebhookEndpoint:
    locked = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    return _save(locked, url=url, events=events, description=description, enabled=enabled)


@transaction.atomic
def webhook_endpoint_delete(*, endpoint: WebhookEndpoint) -> None:
    """Its past deliveries stay readable (their ``endpoint`` becomes empty); pending ones stop."""
    WebhookDelivery.objects.filter(endpoint=endpoint, status=WebhookDelivery.Status.PENDING).update(
        status=WebhookDelivery.Status.FAILED, next_attempt_at=None, updated_at=timezone.now()
    )
    endpoint.delete()


@transaction.atomic
def webhook_endpoint_send_test(*, endpoint: WebhookEndpoint) -> WebhookDelivery:
    """A signed ``test`` event to this endpoint alone (enabled or not), through the same
    delivery, signing and retries as every event."""
    now = timezone.now()
    payload = {
        "id": f"evt_test_{uuid.uuid4().hex[:16]}",
        "type": WebhookDelivery.TEST_EVENT,
        "created_at": now.isoformat().replace("+00:00", "Z"),
        "organization": str(endpoint.organization_id),
        "message": "A test event from CodeFormer Cloud. Check its signature with your endpoint's signing secret.",
        "data": {"endpoint": str(endpoint.id), "url": endpoint.url},
    }
    return delivery_create(
        organization_id=endpoint.organization_id, event=WebhookDelivery.TEST_EVENT, payload=payload, endpoint=endpoint
    )
