"""Abuse reports from anyone, no account: the API endpoint and the form, their challenge, the
per-address rate limit, and the queue item they open."""

from __future__ import annotations

import re
import time

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from jobs.media import media_url
from moderation.models import AbuseReport, ModerationItem
from moderation.reporting import challenge_issue
from tests.moderation.conftest import completed_job

pytestmark = pytest.mark.django_db
REPORT_URL = "/api/abuse-reports"
CHALLENGE_URL = "/api/abuse-reports/challenge"


@pytest.fixture
def job(acme, photo):
    return completed_job(acme.org, photo)


def answer_of(question: str) -> str:
    a, b = (int(n) for n in re.findall(r"\d+", question))
    return str(a + b)


def solved_challenge() -> dict:
    """A challenge issued a minute ago (a person took that long to fill the form in)."""
    challenge = challenge_issue(now=time.time() - 60)
    return {"challenge": challenge.token, "answer": answer_of(challenge.question)}


def report(client, target: str, **fields):
    body = {"target": target, "category": "non_consensual", "details": "That is me.", **solved_challenge(), **fields}
    return client.post(REPORT_URL, body, format="json")


def test_an_anonymous_client_reports_a_result_url_and_gets_a_reference(job, settings):
    client = APIClient()
    challenge = client.get(CHALLENGE_URL).json()
    assert set(challenge) == {"token", "question"}
    settings.ABUSE_REPORT_MIN_SECONDS = 0
    url = media_url(job, "output", base_url="http://testserver")
    body = {
        "target": url,
        "category": "non_consensual",
        "details": "That is my face.",
        "contact_email": "me@example.org",
        "challenge": challenge["token"],
        "answer": answer_of(challenge["question"]),
    }

    response = client.post(REPORT_URL, body, format="json")

    assert response.status_code == 201, response.json()
    reference = response.json()["reference"]
    assert re.fullmatch(r"AR-[A-Z2-9]{10}", reference)
    stored = AbuseReport.objects.get(reference=reference)
    assert stored.target == url and stored.contact_email == "me@example.org"
    assert len(stored.ip_digest) == 64 and "127.0.0.1" not in stored.ip_digest
    item = stored.item
    assert item.origin == ModerationItem.Origin.REPORT and item.status == ModerationItem.Status.OPEN
    assert item.job_id == job.id and item.organization_id == job.organization_id
    assert item.pdq_hash  # the input's hash, ready for a one-click block


def test_a_request_id_works_and_further_reports_join_the_open_item(job):
    first = report(APIClient(), job.request_id)
    second = report(APIClient(), f"see {job.request_id} please", category="harassment")
    assert first.status_code == second.status_code == 201
    assert ModerationItem.objects.count() == 1
    assert ModerationItem.objects.get().reports.count() == 2


def test_an_unknown_target_is_a_404_and_files_nothing(job):
    response = report(APIClient(), "https://example.com/some/picture.png")
    assert response.status_code == 404
    assert set(response.json()) == {"error", "message"}
    assert not AbuseReport.objects.exists() and not ModerationItem.objects.exists()


@pytest.mark.parametrize(
    "fields",
    [
        {"answer": "999"},
        {"website": "http://spam.example"},
        {"challenge": "forged-token"},
        {"category": "spam-category"},
    ],
    ids=["wrong-answer", "honeypot", "forged-token", "bad-category"],
)
def test_a_failed_challenge_or_bad_field_is_a_400_and_files_nothing(job, fields):
    response = report(APIClient(), job.request_id, **fields)
    assert response.status_code == 400
    assert set(response.json()) == {"error", "message"}
    assert not AbuseReport.objects.exists() and not ModerationItem.objects.exists()


def test_a_challenge_answers_once(job):
    challenge = solved_challenge()
    client = APIClient()
    first = report(client, job.request_id, **challenge)
    second = report(client, job.request_id, **challenge)
    assert (first.status_code, second.status_code) == (201, 400)
    assert AbuseReport.objects.count() == 1


def test_a_report_sent_the_instant_the_form_was_issued_is_refused(job, settings):
    settings.ABUSE_REPORT_MIN_SECONDS = 3
    challenge = challenge_issue()  # issued now: a script, not a person reading the form
    response = report(APIClient(), job.request_id, challenge=challenge.token, answer=answer_of(challenge.question))
    assert response.status_code == 400
    assert not AbuseReport.objects.exists()


def test_reports_are_rate_limited_per_address(job, settings):
    settings.ABUSE_REPORTS_PER_HOUR = 2
    one = APIClient(REMOTE_ADDR="203.0.113.5")
    answers = [report(one, job.request_id).status_code for _ in range(3)]
    assert answers == [201, 201, 429]
    limited = report(one, job.request_id)
    assert limited.status_code == 429 and int(limited["Retry-After"]) > 0
    assert AbuseReport.objects.count() == 2
    # Another address has its own budget.
    assert report(APIClient(REMOTE_ADDR="203.0.113.6"), job.request_id).status_code == 201


def test_behind_the_proxy_the_client_address_is_taken_from_x_forwarded_for(job, settings):
    settings.ABUSE_REPORTS_PER_HOUR = 1
    settings.TRUSTED_PROXY_COUNT = 1
    proxy = "10.0.0.1"
    first = APIClient(REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR="198.51.100.1")
    second = APIClient(REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR="198.51.100.2")
    assert report(first, job.request_id).status_code == 201
    assert report(second, job.request_id).status_code == 201
    assert report(first, job.request_id).status_code == 429


def test_the_public_form_works_without_an_account_and_is_csrf_protected(job, settings):
    settings.ABUSE_REPORT_MIN_SECONDS = 0
    browser = Client(enforce_csrf_checks=True)
    page = browser.get(reverse("trust:report_form"), {"url": job.request_id})
    assert page.status_code == 200
    html = page.content.decode()
    assert job.request_id in html
    token = re.search(r'name="challenge" value="([^"]+)"', html).group(1)
    question = re.search(r"What is \d+ \+ \d+\?", html).group(0)
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)
    form = {
        "target": job.request_id,
        "category": "illegal",
        "details": "",
        "contact_email": "",
        "answer": answer_of(question),
        "challenge": token,
        "website": "",
    }

    forged = Client(enforce_csrf_checks=True).post(reverse("trust:report_form"), form)
    assert forged.status_code == 403
    assert not AbuseReport.objects.exists()

    done = browser.post(reverse("trust:report_form"), {**form, "csrfmiddlewaretoken": csrf})
    assert done.status_code == 201
    reference = AbuseReport.objects.get().reference
    assert reference in done.content.decode()


def test_the_form_shows_what_went_wrong_and_a_fresh_question(job):
    browser = Client()
    response = browser.post(
        reverse("trust:report_form"),
        {"target": job.request_id, "category": "illegal", "answer": "1", "challenge": "nope", "website": ""},
    )
    assert response.status_code == 400
    assert "anti-bot check failed" in response.content.decode()
    assert re.search(r'name="challenge" value="[^"]+"', response.content.decode())
    assert not AbuseReport.objects.exists()


def test_with_the_counter_store_down_a_report_gets_a_clear_503_and_files_nothing(job, monkeypatch):
    from accounts import ratelimit

    dead = ratelimit.build_limiter("redis://127.0.0.1:1/0")  # nothing listens on port 1
    monkeypatch.setattr("moderation.reporting.get_limiter", lambda: dead)
    response = report(APIClient(REMOTE_ADDR="203.0.113.9"), job.request_id)
    assert response.status_code == 503, response.content
    assert response["Retry-After"] == "60"
    assert "try again in a minute" in response.json()["message"]
    assert AbuseReport.objects.count() == 0 and ModerationItem.objects.count() == 0
