from __future__ import annotations

import pytest
from django.urls import reverse

from jobs.models import WebhookAttempt, WebhookDelivery
from tests.dashboard.conftest import submit_job

pytestmark = pytest.mark.django_db


def delivery_with_attempts(organization):
    job = submit_job(organization)
    delivery = WebhookDelivery.objects.create(
        organization=organization,
        job=job,
        event="completed",
        url="https://hooks.example.com/codeformer",
        payload={"request_id": job.request_id},
        status=WebhookDelivery.Status.SUCCEEDED,
        attempt_count=2,
    )
    WebhookAttempt.objects.create(
        delivery=delivery, number=1, status_code=503, latency_ms=812, error="HTTP 503 from receiver"
    )
    WebhookAttempt.objects.create(delivery=delivery, number=2, status_code=200, latency_ms=95)
    return delivery


def test_deliveries_list_each_attempts_status_code_latency_and_error(owner_client, org):
    delivery = delivery_with_attempts(org)
    body = owner_client.get(reverse("dashboard:webhooks")).content.decode()
    assert "https://hooks.example.com/codeformer" in body
    assert "503" in body and "812 ms" in body and "HTTP 503 from receiver" in body
    assert "200" in body and "95 ms" in body
    detail = owner_client.get(reverse("dashboard:job_detail", args=[delivery.job.request_id])).content.decode()
    assert "812 ms" in detail


def test_an_outsider_sees_no_deliveries_of_another_organization(outsider_client, org):
    delivery_with_attempts(org)
    body = outsider_client.get(reverse("dashboard:webhooks")).content.decode()
    assert "hooks.example.com" not in body
