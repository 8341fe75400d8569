"""The status object, signed media downloads, retention purge, moderation and worker health."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest
from django.core import signing
from django.core.files.storage import default_storage
from django.utils import timezone

from config.errors import NotFound
from jobs import failures
from jobs.media import media_url
from jobs.models import Job, WorkerHeartbeat
from jobs.retention import files_purge_expired, job_moderate
from jobs.selectors import job_get, job_status_payload, jobs_for, queue_depth, worker_status
from jobs.services import job_run, job_submit
from ml.errors import RestorationFailed
from tests.jobs.conftest import PLAIN, image_input, png_bytes

BASE = "http://testserver"
ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def completed_job(org) -> Job:
    jobs, _ = job_submit(organization=org, params=PLAIN, images=[image_input(24, 16)], source=Job.Source.GATEWAY)
    return job_run(job_id=jobs[0].id)


def path_of(url: str) -> str:
    assert url.startswith(BASE)
    return url[len(BASE) :]


@pytest.mark.django_db
def test_the_status_object_of_a_completed_job_has_the_documented_fields(org, client):
    job = completed_job(org)

    payload = job_status_payload(job, base_url=BASE)

    assert payload["request_id"] == f"codeformer-image-restoration_{job.id}"
    assert payload["status"] == "COMPLETED"
    assert payload["model_id"] == "codeformer-image-restoration"
    assert payload["error"] is None
    assert payload["output"]["media_type"] == "image/png"
    for key in ("created_at", "updated_at", "completed_at"):
        assert ISO_MS.match(payload[key]), payload[key]
    assert payload["logs"][0]["message"] == "Request queued."
    assert all(ISO_MS.match(line["at"]) for line in payload["logs"])
    assert payload["timings"]["queue_wait_s"] >= 0 and payload["timings"]["processing_s"] >= 0
    assert payload["retention"]["files_deleted"] is False
    assert ISO_MS.match(payload["retention"]["expires_at"])

    [url] = payload["output"]["media_url"]
    assert url.endswith("/output.png")
    response = client.get(path_of(url))
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    with default_storage.open(job.output_file.name) as handle:
        assert b"".join(response.streaming_content) == handle.read()


@pytest.mark.django_db
def test_a_queued_job_has_no_output_and_no_completion_time(org):
    jobs, _ = job_submit(organization=org, params=PLAIN, images=[image_input()], source=Job.Source.GATEWAY)
    payload = job_status_payload(jobs[0], base_url=BASE)
    assert (payload["status"], payload["output"], payload["completed_at"], payload["error"]) == (
        "QUEUED",
        None,
        None,
        None,
    )
    assert payload["retention"]["expires_at"] is None
    assert payload["timings"]["queue_wait_s"] is None


@pytest.mark.django_db
def test_an_errored_job_reports_its_error_and_no_output(org, fake_engine):
    fake_engine.fail_with = RestorationFailed("detector crashed")
    jobs, _ = job_submit(organization=org, params=PLAIN, images=[image_input()], source=Job.Source.GATEWAY)
    payload = job_status_payload(job_run(job_id=jobs[0].id), base_url=BASE)
    assert (payload["status"], payload["error"], payload["output"]) == ("ERROR", failures.FAILED_ON_OUR_SIDE, None)
    assert "detector crashed" not in str(payload)  # the engine's words are the operator's


@pytest.mark.django_db
def test_the_input_can_be_downloaded_through_its_own_signed_link(org, client):
    job = completed_job(org)
    response = client.get(path_of(media_url(job, "input", base_url=BASE)))
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == png_bytes(24, 16)


@pytest.mark.django_db
def test_a_tampered_link_is_not_found(org, client):
    job = completed_job(org)
    url = path_of(media_url(job, base_url=BASE))
    token = url.split("/")[3]
    forged = token[:-5] + ("AAAAA" if not token.endswith("AAAAA") else "BBBBB")
    assert client.get(url.replace(token, forged)).status_code == 404
    other_signer = signing.TimestampSigner(key="not-the-secret", salt="jobs.media").sign(f"{job.id}:output")
    assert client.get(url.replace(token, other_signer)).status_code == 404
    assert client.get(url.replace("output.png", "input.png")).status_code == 404


@pytest.mark.django_db
def test_an_expired_link_is_gone(org, client, monkeypatch, settings):
    job = completed_job(org)
    url = path_of(media_url(job, base_url=BASE))
    later = time.time() + settings.MEDIA_URL_TTL_S + 5
    monkeypatch.setattr(signing.time, "time", lambda: later)
    assert client.get(url).status_code == 410


@pytest.mark.django_db
def test_the_retention_purge_deletes_old_files_and_the_status_says_so(org, client, settings, _media_root):
    old = completed_job(org)
    recent = completed_job(org)
    url = path_of(media_url(old, base_url=BASE))
    Job.objects.filter(id=old.id).update(
        completed_at=timezone.now() - timedelta(hours=settings.RESULT_RETENTION_HOURS, minutes=1)
    )

    assert files_purge_expired() == 1

    old.refresh_from_db()
    assert not default_storage.exists(old.input_file.name)
    assert not default_storage.exists(old.output_file.name)
    assert default_storage.exists(recent.output_file.name)
    payload = job_status_payload(old, base_url=BASE)
    assert payload["status"] == "COMPLETED"
    assert payload["output"] is None
    assert payload["retention"]["files_deleted"] is True
    assert "retention" in payload["logs"][-1]["message"]
    assert client.get(url).status_code == 410
    assert files_purge_expired() == 0
    assert sorted(p.name for p in _media_root.rglob("*.png")) == sorted([f"{recent.id}.png"] * 2)


@pytest.mark.django_db
def test_a_moderated_job_is_never_served_again(org, client):
    job = completed_job(org)
    url = path_of(media_url(job, base_url=BASE))

    job_moderate(job=job, note="abuse report")

    assert client.get(url).status_code == 410
    assert not default_storage.exists(job.output_file.name)
    assert job_status_payload(job, base_url=BASE)["output"] is None


@pytest.mark.django_db
def test_on_s3_the_storage_presigned_url_is_used(org, settings):
    job = completed_job(org)
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": "results",
                "access_key": "AKIDEXAMPLE",
                "secret_key": "secret",
                "region_name": "us-east-1",
                "querystring_auth": True,
            },
        },
    }
    url = media_url(job, base_url=BASE)
    assert url.startswith("https://") and "results" in url
    assert job.output_file.name in url
    assert "Signature" in url or "X-Amz-Signature" in url


@pytest.mark.django_db
def test_an_outsider_cannot_read_another_organizations_job(org, other_org):
    job = completed_job(org)
    assert job_get(organization=org, request_id=job.request_id) == job
    assert job_get(organization=org, request_id=str(job.id)) == job
    with pytest.raises(NotFound):
        job_get(organization=other_org, request_id=job.request_id)
    with pytest.raises(NotFound):
        job_get(organization=org, request_id="codeformer-image-restoration_not-a-uuid")
    assert list(jobs_for(org)) == [job]
    assert list(jobs_for(other_org)) == []


@pytest.mark.django_db
def test_worker_status_follows_the_latest_heartbeat_and_queue_depth_counts_queued_jobs(org, settings):
    assert worker_status() == {"alive": False, "last_seen_at": None, "device": None}
    WorkerHeartbeat.objects.create(worker_id="w1", hostname="h", device="cuda", seen_at=timezone.now())
    assert worker_status()["alive"] is True
    assert worker_status()["device"] == "cuda"
    WorkerHeartbeat.objects.filter(worker_id="w1").update(
        seen_at=timezone.now() - timedelta(seconds=10 * settings.WORKER_HEARTBEAT_S)
    )
    assert worker_status()["alive"] is False

    job_submit(organization=org, params=PLAIN, images=[image_input(), image_input()], source=Job.Source.GATEWAY)
    completed_job(org)
    assert queue_depth() == 2


@pytest.mark.django_db
def test_heartbeats_of_workers_gone_for_a_day_are_pruned():
    from jobs.heartbeat import heartbeat_prune

    WorkerHeartbeat.objects.create(
        worker_id="gone", hostname="h", device="cpu", seen_at=timezone.now() - timedelta(days=2)
    )
    WorkerHeartbeat.objects.create(worker_id="alive", hostname="h", device="cpu", seen_at=timezone.now())

    assert heartbeat_prune() == 1
    assert list(WorkerHeartbeat.objects.values_list("worker_id", flat=True)) == ["alive"]
