"""Prometheus metrics (the web's /metrics and the worker's event counters) and the JSON logs
that carry the request id from the API call through the worker to the webhook."""

from __future__ import annotations

import io
import json
import logging
import logging.config

import pytest
from prometheus_client import REGISTRY

from jobs.models import Job
from jobs.services import job_run, job_submit
from lib.logcontext import logging_config
from tests.jobs.conftest import PLAIN, PLAIN_PRICE, image_input
from tests.restoration.conftest import GENERATE_URL, png_bytes

pytestmark = pytest.mark.django_db


def sample(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels or None) or 0.0


def scrape(client, token="scrape-me") -> dict[str, float]:
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200
    figures = {}
    for line in response.content.decode().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            figures[name] = float(value)
    return figures


def test_metrics_answer_only_the_token_holder(client, settings):
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics").status_code == 404
    settings.METRICS_TOKEN = "scrape-me"
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-me").status_code == 200


def test_the_scrape_reports_queue_depth_jobs_in_flight_and_holds(
    client, settings, org, django_capture_on_commit_callbacks
):
    settings.METRICS_TOKEN = "scrape-me"
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(2):
            job_submit(organization=org, params=PLAIN, images=[image_input()], source=Job.Source.GATEWAY)

    figures = scrape(client)

    assert figures['codeformer_queue_depth{queue="gpu"}'] == 2  # the messages really are in the broker
    assert figures['codeformer_jobs_in_flight{status="QUEUED"}'] == 2
    assert figures['codeformer_jobs_in_flight{status="PROCESSING"}'] == 0
    assert figures["codeformer_holds_outstanding_minor"] == 2 * PLAIN_PRICE
    assert figures["codeformer_holds_outstanding"] == 2
    assert figures["codeformer_workers_alive"] == 0


def test_a_finished_job_counts_its_status_stages_and_faces(org, django_capture_on_commit_callbacks):
    completed = sample("codeformer_jobs_finished_total", status="COMPLETED")
    faces = sample("codeformer_faces_restored_total")
    restores = sample("codeformer_job_stage_seconds_count", stage="restore")
    jobs, _ = job_submit(organization=org, params=PLAIN, images=[image_input()], source=Job.Source.GATEWAY)

    with django_capture_on_commit_callbacks(execute=True):
        job_run(job_id=jobs[0].id)

    assert sample("codeformer_jobs_finished_total", status="COMPLETED") == completed + 1
    assert sample("codeformer_faces_restored_total") == faces + 1
    assert sample("codeformer_job_stage_seconds_count", stage="restore") == restores + 1


@pytest.fixture
def json_log():
    """Our production log configuration, writing to a buffer: returns the parsed lines."""
    buffer = io.StringIO()
    config = logging_config(fmt="json", level="INFO")
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logging.config.dictConfigClass(config).configure_formatter(config["formatters"]["console"]))
    from lib.logcontext import ContextFilter

    handler.addFilter(ContextFilter())
    loggers = [logging.getLogger(name) for name in ("jobs", "restoration")]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    yield lambda: [json.loads(line) for line in buffer.getvalue().splitlines()]
    for logger in loggers:
        logger.removeHandler(handler)


def test_the_request_id_runs_from_the_api_call_through_the_worker_to_the_webhook(
    settings, json_log, receiver, django_capture_on_commit_callbacks
):
    from rest_framework.test import APIClient

    from tests.accounts.factories import OrganizationFactory, UserFactory, make_key
    from tests.restoration.conftest import Customer  # noqa: F401 - the API fixtures' shape

    org = OrganizationFactory(name="Logs Inc", owner=UserFactory(username="logs"), initial_credit=1000)
    _, key = make_key(org)
    client = APIClient()
    client.credentials(HTTP_OCP_APIM_SUBSCRIPTION_KEY=key)
    import base64

    response = client.post(
        GENERATE_URL,
        {
            "image_base64": base64.b64encode(png_bytes()).decode(),
            "background_enhance": False,
            "face_upsample": False,
            "webhook": receiver.url,
            "webhook_events_filter": ["completed"],
        },
        format="json",
        HTTP_X_REQUEST_ID="proxy-abc-123",
    )
    assert response.status_code == 202, response.content
    assert response["X-Request-ID"] == "proxy-abc-123"
    request_id = response.json()["request_id"]
    job = Job.objects.get(organization=org)
    with django_capture_on_commit_callbacks(execute=True):
        job_run(job_id=job.id)
    from jobs.models import WebhookDelivery
    from jobs.webhooks import webhook_deliver

    delivery = WebhookDelivery.objects.get(job=job)
    before = sample("codeformer_webhook_attempts_total", outcome="succeeded")
    with django_capture_on_commit_callbacks(execute=True):
        webhook_deliver(delivery_id=delivery.id)  # what the webhooks worker runs for the message
    assert sample("codeformer_webhook_attempts_total", outcome="succeeded") == before + 1

    lines = json_log()
    queued = next(line for line in lines if line["message"].startswith("request queued"))
    assert (queued["request_id"], queued["http_request_id"]) == (request_id, "proxy-abc-123")
    finished = next(line for line in lines if line["message"].startswith("job finished"))
    assert finished["request_id"] == request_id
    assert finished["level"] == "INFO" and finished["logger"] == "jobs.services" and "time" in finished
    delivered = next(line for line in lines if "delivered (HTTP 200)" in line["message"])
    assert delivered["request_id"] == request_id


def test_an_unusable_request_id_header_is_replaced(client):
    response = client.get("/api/health", HTTP_X_REQUEST_ID="bad id with spaces\n")
    assert len(response["X-Request-ID"]) == 32 and " " not in response["X-Request-ID"]
