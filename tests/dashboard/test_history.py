"""The jobs history (filters, search, charged amounts, thumbnails), usage per day and the CSV
exports: organization first, a fixed number of queries per page, outsiders see nothing."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from PIL import Image

from accounts.models import ApiKey
from billing.models import LedgerEntry
from jobs.models import Job
from jobs.services import job_cancel, job_run, job_submit
from jobs.types import ImageInput
from tests.accounts.factories import make_key
from tests.dashboard.conftest import PLAIN, png_bytes, submit_job

pytestmark = pytest.mark.django_db

JOBS_URL = "/jobs/"


@pytest.fixture(autouse=True)
def _engine(settings):
    from jobs.engine import reset_engine
    from tests.jobs.engines import FakeEngine

    settings.RESTORATION_ENGINE = "tests.jobs.engines.FakeEngine"
    reset_engine()
    FakeEngine.reset()


def submit(org, *, user=None, api_key=None, name="face.png", source="gateway") -> Job:
    jobs, _ = job_submit(
        organization=org,
        params=PLAIN,
        images=[ImageInput(data=png_bytes(), name=name, width=48, height=40, format="PNG")],
        source=source,
        user=user,
        api_key=api_key,
    )
    return jobs[0]


def listed(response) -> list[str]:
    return [job.request_id for job in response.context["page"]]


def test_the_list_shows_what_each_job_was_charged(owner_client, org):
    done = submit(org)
    job_run(job_id=done.id)
    canceled = submit(org)
    job_cancel(organization=org, job=canceled)
    queued = submit(org)

    response = owner_client.get(JOBS_URL)

    assert response.status_code == 200
    body = response.content.decode()
    assert "$0.10" in body and "not charged" in body and "held" in body
    assert listed(response) == [queued.request_id, canceled.request_id, done.request_id]


def test_filters_narrow_by_status_source_key_member_and_dates(owner_client, org, owner, teammate):
    subscription, _ = make_key(org, name="ci")
    api_key = ApiKey.objects.filter(subscription=subscription).first()
    by_key = submit(org, api_key=api_key)
    by_owner = submit(org, user=owner, source="dashboard")
    by_teammate = submit(org, user=teammate, source="dashboard")
    old = submit(org)
    Job.objects.filter(id=old.id).update(created_at=timezone.now() - timedelta(days=10))
    job_run(job_id=by_owner.id)

    assert listed(owner_client.get(JOBS_URL, {"status": "COMPLETED"})) == [by_owner.request_id]
    assert set(listed(owner_client.get(JOBS_URL, {"source": "dashboard"}))) == {
        by_owner.request_id,
        by_teammate.request_id,
    }
    assert listed(owner_client.get(JOBS_URL, {"key": str(subscription.id)})) == [by_key.request_id]
    assert listed(owner_client.get(JOBS_URL, {"user": str(teammate.id)})) == [by_teammate.request_id]
    day = (timezone.localdate() - timedelta(days=10)).isoformat()
    assert listed(owner_client.get(JOBS_URL, {"date_from": day, "date_to": day})) == [old.request_id]
    since_today = listed(owner_client.get(JOBS_URL, {"date_from": timezone.localdate().isoformat()}))
    assert old.request_id not in since_today and len(since_today) == 3


def test_search_finds_a_request_by_its_id_its_first_characters_or_its_file_name(owner_client, org):
    wanted = submit(org, name="grandma-1962.jpg")
    submit(org, name="other.png")

    assert listed(owner_client.get(JOBS_URL, {"q": wanted.request_id})) == [wanted.request_id]
    assert listed(owner_client.get(JOBS_URL, {"q": str(wanted.id)})) == [wanted.request_id]
    assert listed(owner_client.get(JOBS_URL, {"q": str(wanted.id)[:8]})) == [wanted.request_id]
    assert listed(owner_client.get(JOBS_URL, {"q": "GRANDMA"})) == [wanted.request_id]


def test_the_ids_filter_shows_the_jobs_of_one_submission(owner_client, org):
    first, second = submit(org), submit(org)
    submit(org)
    response = owner_client.get(JOBS_URL, {"ids": f"{first.id},{second.id}"})
    assert set(listed(response)) == {first.request_id, second.request_id}
    bad = owner_client.get(JOBS_URL, {"ids": "not-a-uuid"})
    assert bad.status_code == 200 and len(listed(bad)) == 3  # the bad filter is reported, not applied
    assert "Not a list of job ids." in bad.content.decode()


def test_a_bad_filter_is_reported_and_changes_nothing(owner_client, org):
    submit(org)
    response = owner_client.get(JOBS_URL, {"date_from": "2026-05-02", "date_to": "2026-05-01", "status": "NOPE"})
    assert response.status_code == 200
    body = response.content.decode()
    assert "The end date is before the start date." in body
    assert "Select a valid choice" in body
    assert Job.objects.count() == 1


def test_an_outsider_finds_none_of_the_organizations_jobs(outsider_client, org):
    job = submit(org, name="private.png")
    response = outsider_client.get(JOBS_URL, {"q": job.request_id})
    assert listed(response) == []
    assert outsider_client.get(JOBS_URL, {"q": "private"}).context["page"].paginator.count == 0
    assert outsider_client.get(f"/jobs/{job.request_id}/thumb/input/").status_code == 404


def test_a_page_of_jobs_costs_the_same_queries_however_many_jobs_there_are(owner_client, org):
    def queries_for_page() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert owner_client.get(JOBS_URL).status_code == 200
        return len(captured)

    for _ in range(3):
        job_run(job_id=submit(org).id)
    queries_for_page()  # the first request of a session warms caches (plan, membership)
    few = queries_for_page()
    for _ in range(30):
        job_run(job_id=submit(org).id)
    assert queries_for_page() == few


def test_thumbnails_are_small_jpegs_and_gone_once_moderated(owner_client, org):
    job = submit(org)
    job_run(job_id=job.id)

    response = owner_client.get(f"/jobs/{job.request_id}/thumb/output/")

    assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"
    image = Image.open(io.BytesIO(b"".join(response.streaming_content) if response.streaming else response.content))
    assert image.format == "JPEG" and max(image.size) <= 160
    Job.objects.filter(id=job.id).update(moderated_at=timezone.now())
    assert owner_client.get(f"/jobs/{job.request_id}/thumb/output/").status_code == 404
    assert owner_client.get(f"/jobs/{job.request_id}/thumb/secret/").status_code == 404


def _csv(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_the_jobs_export_has_the_filtered_jobs_and_their_charges(owner_client, org):
    done = submit(org, name="a.png")
    job_run(job_id=done.id)
    canceled = submit(org, name="b.png")
    job_cancel(organization=org, job=canceled)

    rows = _csv(owner_client.get("/jobs/export.csv", {"status": "COMPLETED"}))

    assert rows[0][0] == "request_id"
    assert rows[0][-4:] == ["currency", "price_minor", "charged_minor", "refunded_minor"]
    assert [(row[0], row[2], row[-4], row[-2], row[-1]) for row in rows[1:]] == [
        (done.request_id, "COMPLETED", "USD", "10", "0")
    ]
    everything = _csv(owner_client.get("/jobs/export.csv"))
    assert {row[0]: row[-2] for row in everything[1:]} == {done.request_id: "10", canceled.request_id: "0"}


def test_usage_per_day_adds_up_to_the_ledger(owner_client, org):
    for _ in range(3):
        job_run(job_id=submit(org).id)
    failed = submit(org)
    job_cancel(organization=org, job=failed)
    yesterday = submit(org)
    job_run(job_id=yesterday.id)
    earlier = timezone.now() - timedelta(days=1)
    Job.objects.filter(id=yesterday.id).update(created_at=earlier)
    LedgerEntry.objects.filter(job=yesterday).update(created_at=earlier)

    response = owner_client.get("/usage/", {"days": "7"})

    assert response.status_code == 200
    report = response.context["report"]
    assert len(report.days) == 7
    today, before = report.days[-1], report.days[-2]
    assert (today.images, today.completed, today.not_charged, today.spent) == (4, 3, 1, 30)
    assert (before.images, before.spent) == (1, 10)
    captured = -sum(LedgerEntry.objects.filter(organization=org, kind="capture").values_list("amount", flat=True))
    assert report.spent == captured == 40
    rows = _csv(owner_client.get("/usage/export.csv", {"days": "7"}))
    assert rows[0] == ["date", "images", "completed", "not_charged", "currency", "spent_minor", "spent"]
    assert rows[-1] == ["total", "5", "4", "1", "USD", "40", "0.40"]
    assert sum(int(row[5]) for row in rows[1:-1]) == 40


def test_a_bad_usage_period_falls_back_to_thirty_days_and_says_so(owner_client, org):
    response = owner_client.get("/usage/", {"days": "1000"})
    assert response.status_code == 200 and len(response.context["report"].days) == 30
    assert "Choose 7, 30, 90 days" in response.context["error"]
    response = owner_client.get("/usage/", {"from": "2020-01-01", "to": "2026-01-01"})
    assert "at most a year" in response.context["error"]
    response = owner_client.get("/usage/", {"from": "yesterday"})
    assert "YYYY-MM-DD" in response.context["error"]


def test_usage_counts_only_the_organizations_own_jobs(outsider_client, org, other_org):
    job_run(job_id=submit(org).id)
    report = outsider_client.get("/usage/").context["report"]
    assert report.images == 0 and report.spent == 0


def test_submit_job_helper_still_queues(org):
    assert submit_job(org).status == Job.Status.QUEUED


def test_the_ledger_export_is_every_movement_oldest_first_ending_at_the_balance(owner_client, org, outsider, other_org):
    from django.test import Client

    from billing.models import Wallet

    done = submit(org)
    job_run(job_id=done.id)
    rows = _csv(owner_client.get("/wallet/ledger.csv"))
    header, body = rows[0], rows[1:]
    assert header[:6] == ["created_at", "kind", "description", "request_id", "by", "currency"]
    entries = list(LedgerEntry.objects.filter(organization=org).order_by("created_at", "id"))
    assert len(body) == len(entries)
    assert [row[1] for row in body] == [entry.get_kind_display() for entry in entries]
    assert sum(int(row[6]) for row in body) == int(body[-1][8]) == Wallet.objects.get(organization=org).balance
    assert done.request_id in {row[3] for row in body}
    # Another organization's member exports their own ledger, never this one.
    stranger = Client()
    stranger.force_login(outsider)
    assert done.request_id not in str(_csv(stranger.get("/wallet/ledger.csv")))


def test_the_ledger_export_names_who_sent_each_jobs_movements(owner_client, org, owner):
    by_member = submit(org, user=owner, source="dashboard")
    subscription, _ = make_key(org, name="nightly batch")
    by_key = submit(org, api_key=ApiKey.objects.filter(subscription=subscription).first())
    rows = _csv(owner_client.get("/wallet/ledger.csv"))[1:]
    by = {row[3]: row[4] for row in rows if row[3]}
    assert by[by_member.request_id] == owner.email
    assert by[by_key.request_id] == "key set nightly batch"
