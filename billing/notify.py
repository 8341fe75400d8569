"""Billing notices: low balance, spend limit, payment received/failed, auto-recharge off.

Each notice is one BillingAlert row whose unique key (organization, kind, key) makes it go out
once, however many workers or redelivered events reach it. The row is written in the caller's
transaction, and so is one webhook delivery of the signed ``billing.*`` event per enabled
webhook endpoint subscribed to it (``jobs.webhooks``: recorded attempts, retries, replay). The
email (Django's mail API, to the owners and the billing email) goes out after it commits, and so
does the event to the older per-account ``BillingAccount.webhook_url`` where one is still set
(jobs migration 0006 moved those into endpoints).
"""

from __future__ import annotations

import json
import logging
import uuid

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from accounts.models import Membership, Organization
from billing.models import BillingAccount, BillingAlert
from lib.base_url import stored_base_url

logger = logging.getLogger(__name__)

EVENT_TYPES = {
    BillingAlert.Kind.LOW_BALANCE: "billing.balance_low",
    BillingAlert.Kind.SPEND_LIMIT: "billing.spend_limit",
    BillingAlert.Kind.PAYMENT_RECEIVED: "billing.payment_received",
    BillingAlert.Kind.PAYMENT_FAILED: "billing.payment_failed",
    BillingAlert.Kind.AUTO_RECHARGE_DISABLED: "billing.auto_recharge_disabled",
}


def notice_send(
    *, organization: Organization, kind: str, key: str, subject: str, message: str, data: dict | None = None
) -> BillingAlert | None:
    """Record the notice and send it after commit; None when this (kind, key) was already sent."""
    try:
        with transaction.atomic():
            alert = BillingAlert.objects.create(
                organization=organization, kind=kind, key=key[:200], message=message[:500]
            )
    except IntegrityError:
        return None
    body = {
        "id": f"evt_{alert.id}_{uuid.uuid4().hex[:8]}",
        "type": EVENT_TYPES[kind],
        "created_at": timezone.now().isoformat().replace("+00:00", "Z"),
        "organization": str(organization.id),
        "message": message,
        "data": data or {},
    }
    from jobs.webhooks import event_emit

    event_emit(organization_id=organization.id, event=body["type"], payload=body)
    transaction.on_commit(lambda: _deliver(organization.id, subject, message, body))
    return alert


def recipients(organization_id) -> list[str]:
    owners = Membership.objects.filter(
        organization_id=organization_id, role=Membership.Role.OWNER, user__is_active=True
    ).values_list("user__email", flat=True)
    extra = BillingAccount.objects.filter(organization_id=organization_id).values_list("billing_email", flat=True)
    return sorted({email for email in [*owners, *extra] if email})


def email_text(organization_id, message: str) -> str:
    """A notice's e-mail body: the message, then which organization it is about and where its
    wallet and alert settings are (an owner may belong to several organizations)."""
    name = Organization.objects.filter(id=organization_id).values_list("name", flat=True).first() or ""
    wallet = stored_base_url("") + reverse("dashboard:wallet")
    return (
        f"{message}\n\nOrganization: {name}\nWallet, payments and alert settings: {wallet}\n\n"
        f"You receive billing notices as an owner or the billing contact of {name}."
    )


def _deliver(organization_id, subject: str, message: str, body: dict) -> None:
    to = recipients(organization_id)
    if to:
        try:
            send_mail(
                f"{settings.ACCOUNT_EMAIL_SUBJECT_PREFIX}{subject}",
                email_text(organization_id, message),
                settings.DEFAULT_FROM_EMAIL,
                to,
            )
        except Exception:
            logger.exception("billing notice email to organization %s failed", organization_id)
    url = BillingAccount.objects.filter(organization_id=organization_id).values_list("webhook_url", flat=True).first()
    if url and not _endpoint_receives(organization_id, url, body["type"]):
        from billing.actors import deliver_billing_event

        try:
            deliver_billing_event.send(str(organization_id), url, json.dumps(body, separators=(",", ":")))
        except Exception:
            logger.exception("could not enqueue billing event for organization %s", organization_id)


def _endpoint_receives(organization_id, url: str, event: str) -> bool:
    from jobs.webhooks import endpoints_subscribed

    return any(endpoint.url == url for endpoint in endpoints_subscribed(organization_id, event))


def billing_event_deliver(*, organization_id, url: str, body: str) -> int:
    """POST one signed billing event (Standard Webhooks, the organization's job-webhook secret).
    Raises on failure so the actor's retries try again."""
    from jobs.webhooks import signed_headers
    from lib.netfetch import check_public_url, post_public_json

    organization = Organization.objects.get(id=organization_id)
    check_public_url(url)
    message_id = json.loads(body)["id"]
    headers = signed_headers(organization=organization, message_id=message_id, body=body)
    status_code, _ = post_public_json(url, body=body.encode(), headers=headers, timeout=settings.WEBHOOK_TIMEOUT_S)
    if not 200 <= status_code < 300:
        raise RuntimeError(f"billing webhook answered HTTP {status_code}")
    return status_code
