"""Staff find any request by the id a customer quotes, and read what happened to it: status,
the operator's error detail, the money moved, each webhook attempt, the log, moderation."""

from __future__ import annotations

import uuid

import pytest
from django.urls import reverse
from django.utils import timezone

from billing.services import hold_capture, hold_release
from jobs.models import Job, JobLog, WebhookAttempt, WebhookDelivery
from moderation.models import ModerationItem
from moderation.screening import REFUSED_REQUEST_PREFIX
from restoration.templatetags.dashboard_tags import money
from tests.dashboard.conftest import submit_job

pytestmark = pytest.mark.django_db


def _lookup(client, query):
    return client.get(reverse("staff:request_lookup"), {"q": query})


def test_a_request_id_in_any_organization_opens_its_record(staff_client, acme, globex):
    job = submit_job(globex)
    detail = reverse("staff:request_detail", args=[job.id])

    for quoted in (job.request_id, str(job.id), f"  {job.request_id} ", f'"{job.request_id}"', str(job.id).upper()):
        response = _lookup(staff_client, quoted)
        assert response.status_code == 302, quoted
        assert response["Location"] == detail

    page = staff_client.get(detail).content.decode()
    assert job.request_id in page
    assert "Globex" in page
    assert reverse("staff:organization_detail", args=[globex.id]) in page


def test_a_refused_uploads_id_opens_the_moderation_item_that_recorded_it(staff_client, acme):
    refused_id = f"{REFUSED_REQUEST_PREFIX}{uuid.uuid4()}"
    item = ModerationItem.objects.create(
        origin=ModerationItem.Origin.BLOCKLIST, organization=acme, request_id=refused_id, reason="blocklist match"
    )
    response = _lookup(staff_client, refused_id)
    assert response.status_code == 302
    assert response["Location"] == reverse("moderation:item", args=[item.id])


def test_the_short_id_the_dashboard_shows_opens_the_request(staff_client, acme):
    job = submit_job(acme)
    for quoted in (f"…{job.request_id[-12:]}", job.request_id[-12:], f"...{job.request_id[-16:].upper()}"):
        response = _lookup(staff_client, quoted)
        assert response.status_code == 302, quoted
        assert response["Location"] == reverse("staff:request_detail", args=[job.id])
    assert _lookup(staff_client, "0123456789ab").status_code == 404


def test_an_abuse_reports_reference_opens_the_item_it_filed(staff_client, acme):
    from moderation.services import report_create

    job = submit_job(acme)
    report = report_create(
        job=job, target=job.request_id, category="harassment", details="", contact_email="", ip_digest="x"
    )
    assert report.reference.startswith("AR-")
    for quoted in (report.reference, f" {report.reference.lower()} "):  # as typed from an e-mail
        response = _lookup(staff_client, quoted)
        assert response.status_code == 302
        assert response["Location"] == reverse("moderation:item", args=[report.item_id])
    assert _lookup(staff_client, "AR-NOSUCHREF1").status_code == 404


@pytest.mark.parametrize(
    "query",
    [
        f"codeformer-image-restoration_{uuid.uuid4()}",  # well formed, no such job
        f"{REFUSED_REQUEST_PREFIX}{uuid.uuid4()}",
        "not an id at all",
        "codeformer-image-restoration_1234",
    ],
)
def test_an_unknown_id_says_so_on_the_search_page(staff_client, acme, query):
    submit_job(acme)
    response = _lookup(staff_client, query)
    assert response.status_code == 404
    page = response.content.decode()
    assert "No request, refused upload or abuse report has the id" in page
    assert 'name="q"' in page


def test_the_record_of_a_completed_request_shows_what_it_was_charged_and_its_webhooks(staff_client, acme):
    job = submit_job(acme)
    Job.objects.filter(id=job.id).update(
        status=Job.Status.COMPLETED, started_at=timezone.now(), completed_at=timezone.now(), faces_detected=2
    )
    hold_capture(job=job)
    JobLog.objects.create(job=job, message="Restored 2 faces")
    delivery = WebhookDelivery.objects.create(
        organization=acme, job=job, event="completed", url="https://hooks.acme.test/cf", payload={}, status="failed"
    )
    WebhookAttempt.objects.create(delivery=delivery, number=1, status_code=502, latency_ms=31, error="Bad Gateway")

    page = staff_client.get(reverse("staff:request_detail", args=[job.id])).content.decode()

    assert "Completed" in page
    charged = page.split('data-field="charged">', 1)[1].split("</dd>", 1)[0]
    assert money(job.price, acme.wallet.currency) in charged  # the whole price, captured
    assert "not charged" not in charged
    assert "Capture" in page and "Hold" in page  # both ledger entries
    assert "Restored 2 faces" in page
    assert "https://hooks.acme.test/cf" in page and "502" in page and "Bad Gateway" in page
    # No picture of the customer's on this page: viewing one is a moderation action.
    assert "<img" not in page
    assert job.input_file.url not in page


def test_the_record_of_an_errored_request_shows_the_operator_detail_and_that_nothing_was_charged(staff_client, acme):
    job = submit_job(acme)
    Job.objects.filter(id=job.id).update(
        status=Job.Status.ERROR,
        completed_at=timezone.now(),
        error="Something went wrong on our side; you were not charged.",
        error_detail="RuntimeError: CUDA out of memory (tried to allocate 2.00 GiB)",
    )
    hold_release(job=job, reason="error")

    page = staff_client.get(reverse("staff:request_detail", args=[job.id])).content.decode()

    assert "CUDA out of memory" in page
    assert "you were not charged" in page
    charged = page.split('data-field="charged">', 1)[1].split("</dd>", 1)[0]
    assert "not charged" in charged
    assert "Release" in page


def test_the_record_lists_moderation_items_and_can_flag_the_request(staff_client, acme):
    job = submit_job(acme)
    detail = reverse("staff:request_detail", args=[job.id])
    assert "Nobody has reported or flagged this request." in staff_client.get(detail).content.decode()

    response = staff_client.post(reverse("moderation:job_flag", args=[job.id]), {"reason": "customer complaint"})
    item = ModerationItem.objects.get(job=job)
    assert response["Location"] == reverse("moderation:item", args=[item.id])

    page = staff_client.get(detail).content.decode()
    assert reverse("moderation:item", args=[item.id]) in page
    # And the moderation item links back to the record.
    assert detail in staff_client.get(reverse("moderation:item", args=[item.id])).content.decode()


def test_customers_cannot_open_a_record(client, customer, acme):
    job = submit_job(acme)
    client.force_login(customer)
    assert client.get(reverse("staff:request_detail", args=[job.id])).status_code == 404
    assert client.get(reverse("staff:request_lookup"), {"q": job.request_id}).status_code == 404


def test_an_unknown_record_is_a_404(staff_client, acme):
    assert staff_client.get(reverse("staff:request_detail", args=[uuid.uuid4()])).status_code == 404


def test_the_overview_and_the_organization_page_link_requests_to_their_record(staff_client, acme):
    job = submit_job(acme)
    Job.objects.filter(id=job.id).update(status=Job.Status.ERROR, completed_at=timezone.now(), error_detail="boom")
    hold_release(job=job, reason="error")
    detail = reverse("staff:request_detail", args=[job.id])

    assert detail in staff_client.get(reverse("staff:home")).content.decode()
    assert detail in staff_client.get(reverse("staff:organization_detail", args=[acme.id])).content.decode()
