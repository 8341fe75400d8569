"""The live feed of a request (server-sent events) and `Prefer: wait=N` on generate."""

from __future__ import annotations

import json
import threading

import dramatiq
import pytest
from django.db import connection

from billing.models import LedgerEntry, Wallet
from jobs.models import Job
from jobs.services import job_run
from tests.jobs.engines import FakeEngine
from tests.restoration.conftest import GENERATE_URL, png_bytes
from tests.restoration.test_gateway import data_uri, generate

pytestmark = pytest.mark.django_db


def stream_url(request_id: str) -> str:
    return f"/v2/requests/status/{request_id}/stream"


def parse_events(text: str) -> list[dict]:
    """SSE text into [{"event", "id", "data"}], comments and retry lines dropped."""
    events = []
    for block in text.split("\n\n"):
        fields: dict = {}
        for line in block.splitlines():
            if line.startswith(":") or ":" not in line:
                continue
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")
        if "event" in fields:
            events.append(
                {"event": fields["event"], "id": fields.get("id"), "data": json.loads(fields.get("data", "null"))}
            )
    return events


def read_stream(response) -> list[dict]:
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/event-stream")
    return parse_events(b"".join(response.streaming_content).decode())


@pytest.fixture
def quick_stream(settings):
    settings.LIVE_STREAM_POLL_MS = 50
    settings.LIVE_STREAM_MAX_S = 1
    settings.LIVE_STREAM_HEARTBEAT_S = 1


def test_a_queued_request_streams_its_status_and_logs_then_closes_at_the_bound(client, quick_stream):
    request_id = generate(client).json()["request_id"]
    events = read_stream(client.get(stream_url(request_id)))
    names = [event["event"] for event in events]
    assert names[:2] == ["status", "log"]  # the status first, as documented, then "Request queued."
    assert events[1]["data"]["message"] == "Request queued."
    status = events[0]["data"]
    assert status["request_id"] == request_id
    assert status["status"] == "QUEUED"
    assert "logs" not in status
    assert status["live"]["stage"] == "Waiting for a worker."
    # Still queued when the bounded connection ends: no "done", and the status was sent once.
    assert "done" not in names
    assert names.count("status") == 1


def test_reconnecting_with_last_event_id_sends_only_new_lines_and_ends_with_done(client, quick_stream, scaling_engine):
    request_id = generate(client).json()["request_id"]
    first = read_stream(client.get(stream_url(request_id)))
    last_id = max(int(event["id"]) for event in first if event["event"] == "log")
    job_run(job_id=Job.objects.get().id)

    events = read_stream(client.get(stream_url(request_id), HTTP_LAST_EVENT_ID=str(last_id)))
    messages = [event["data"]["message"] for event in events if event["event"] == "log"]
    assert "Request queued." not in messages
    assert messages[0].startswith("Processing started")
    assert "Restoring faces." in messages
    assert messages[-1].startswith("Completed:")
    assert events[-1]["event"] == "done"
    final = [event for event in events if event["event"] == "status"][-1]["data"]
    assert final["status"] == "COMPLETED"
    assert final["output"]["media_url"]
    size = final["live"]["output_size"]
    assert (size["width"], size["height"]) == (96, 80)  # 48x40 at the default 2x
    assert size["bytes"] > 0
    assert final["live"]["faces_detected"] == 1


def test_reconnecting_after_done_answers_204_so_event_source_stops(client, quick_stream, scaling_engine):
    request_id = generate(client).json()["request_id"]
    job_run(job_id=Job.objects.get().id)
    events = read_stream(client.get(stream_url(request_id)))
    assert events[-1]["event"] == "done"
    last_id = events[-1]["id"]  # what an EventSource sends back as Last-Event-ID

    again = client.get(stream_url(request_id), HTTP_LAST_EVENT_ID=last_id)
    assert again.status_code == 204
    assert again.content == b""
    # A client that missed lines (an earlier id) still gets them, then status and done.
    earlier = read_stream(client.get(stream_url(request_id), HTTP_LAST_EVENT_ID=str(int(last_id) - 1)))
    assert [event["event"] for event in earlier] == ["status", "log", "done"]
    # A first connection (no Last-Event-ID) to a finished request streams it whole, as before.
    assert read_stream(client.get(stream_url(request_id)))[-1]["event"] == "done"


def test_the_stream_accepts_the_key_as_a_query_parameter_for_event_source(customer, anonymous, quick_stream):
    request_id = generate(customer.client()).json()["request_id"]
    response = anonymous.get(stream_url(request_id), {"subscription-key": customer.key})
    assert [event["event"] for event in read_stream(response)][:2] == ["status", "log"]


def test_the_stream_of_another_organizations_request_is_a_404(client, outsider):
    request_id = generate(client).json()["request_id"]
    response = outsider.client().get(stream_url(request_id))
    assert response.status_code == 404
    assert response.json()["error"]


def test_the_stream_without_a_key_is_a_401(client, anonymous):
    request_id = generate(client).json()["request_id"]
    assert anonymous.get(stream_url(request_id)).status_code == 401


def test_the_stream_is_in_the_openapi_schema(anonymous):
    schema = anonymous.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    operation = schema["paths"]["/v2/requests/status/{request_id}/stream"]["get"]
    assert "text/event-stream" in operation["responses"]["200"]["content"]
    generate_op = schema["paths"]["/codeformer-image-restoration/v1/codeformer/generate"]["post"]
    assert "Prefer" in [parameter["name"] for parameter in generate_op["parameters"]]
    assert "200" in generate_op["responses"]


# --- Prefer: wait=N --------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["wait=0", "wait=abc", "wait=61", "wait=-1", "wait=1.5"])
def test_a_bad_prefer_wait_is_a_400_that_creates_nothing(client, nothing_created, value):
    guard = nothing_created()
    response = generate(client, HTTP_PREFER=value)
    assert response.status_code == 400
    assert "Prefer: wait" in response.json()["message"]
    guard.assert_unchanged()


def test_other_preferences_are_ignored(client):
    response = generate(client, HTTP_PREFER="respond-async, handling=lenient")
    assert response.status_code == 202


def test_prefer_wait_answers_202_when_the_request_is_not_done_in_time(client):
    # No worker runs: the job stays queued, so after one second the normal answer comes.
    response = generate(client, HTTP_PREFER="wait=1")
    assert response.status_code == 202
    assert response.json()["status"] == "QUEUED"
    assert "Preference-Applied" not in response


@pytest.fixture
def gpu_worker(transactional_db, scaling_engine):
    broker = dramatiq.get_broker()
    broker.flush_all()
    worker = dramatiq.Worker(broker, worker_timeout=100, worker_threads=1, queues={"gpu"})
    worker.start()
    yield worker
    worker.stop()
    broker.flush_all()
    connection.close()


def test_prefer_wait_answers_200_with_the_completed_status_object(gpu_worker, client, customer):
    response = client.post(GENERATE_URL, {"image_base64": data_uri(png_bytes())}, format="json", HTTP_PREFER="wait=30")
    assert response.status_code == 200, response.content
    assert response["Preference-Applied"] == "wait=30"
    body = response.json()
    assert body["status"] == "COMPLETED"
    assert body["output"]["media_url"]
    job = Job.objects.get()
    assert LedgerEntry.objects.filter(job=job, kind=LedgerEntry.Kind.CAPTURE).count() == 1
    assert Wallet.objects.get(organization=customer.org).held == 0


def test_prefer_wait_answers_the_202_and_leaves_the_job_running_when_it_is_slow(gpu_worker, client):
    gate = threading.Event()
    FakeEngine.gate = gate
    try:
        # Long enough for the worker to claim the job (then the gate holds it PROCESSING).
        response = generate(client, HTTP_PREFER="wait=3")
        assert response.status_code == 202
        job = Job.objects.get()
        assert job.status in Job.IN_FLIGHT  # not canceled: the client polls or streams it
        # The 202 tells the status as the wait last read it (the worker holds it PROCESSING at
        # the gate), not QUEUED as it was when accepted.
        assert response.json()["status"] == job.status == Job.Status.PROCESSING
    finally:
        gate.set()
