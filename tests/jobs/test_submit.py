"""job_submit: prices, holds, files, idempotency, the in-flight cap and all-or-nothing failure."""

from __future__ import annotations

import contextlib
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core.files.storage import default_storage
from django.db import connection

from billing.errors import InsufficientBalance, TooManyJobsInFlight
from billing.models import LedgerEntry, Wallet
from billing.services import hold_capture
from config.errors import BadRequest, UnprocessableEntity
from jobs.idempotency import jobs_for_key
from jobs.models import REQUEST_ID_PREFIX, Job
from jobs.services import job_submit
from tests.accounts.factories import OrganizationFactory
from tests.jobs.conftest import PLAIN, PLAIN_PRICE, image_input, png_bytes

# Every test on both ways an admission is written (one statement on PostgreSQL, separate ones).
pytestmark = pytest.mark.usefixtures("admission_path")


def submit(org, images=None, **kwargs):
    kwargs.setdefault("params", PLAIN)
    kwargs.setdefault("source", Job.Source.GATEWAY)
    return job_submit(organization=org, images=[image_input()] if images is None else images, **kwargs)


def media_files(media_root) -> list[str]:
    return sorted(str(p.relative_to(media_root)) for p in media_root.rglob("*") if p.is_file())


def holds(org) -> list[LedgerEntry]:
    return list(LedgerEntry.objects.filter(organization=org, kind=LedgerEntry.Kind.HOLD))


@pytest.mark.django_db
def test_it_creates_one_queued_job_per_image_with_a_hold_and_a_stored_input(org, _media_root):
    jobs, created = submit(org, images=[image_input(), image_input(30, 20, name="b.jpg")])

    assert created is True
    assert len(jobs) == 2
    for job in jobs:
        job.refresh_from_db()
        assert job.status == Job.Status.QUEUED
        assert job.request_id == f"{REQUEST_ID_PREFIX}{job.id}"
        assert job.price == PLAIN_PRICE
        assert job.input_file.name == f"inputs/{org.id}/{job.id}.png"
        assert default_storage.open(job.input_file.name).read() == png_bytes(job.input_width, job.input_height)
    wallet = Wallet.objects.get(organization=org)
    assert wallet.held == 2 * PLAIN_PRICE
    assert wallet.balance == 1000
    assert sorted(h.job_id for h in holds(org)) == sorted(j.id for j in jobs)


@pytest.mark.django_db
def test_the_price_follows_the_parameters(org):
    from jobs.types import JobParams

    jobs, _ = submit(org, params=JobParams(upscale=4, background_enhance=True, face_upsample=True))
    # restore_base 10 + background_enhance 5 + face_upsample 3 + 2 upscale steps above 2x at 2 each
    assert jobs[0].price == 10 + 5 + 3 + 2 * 2
    assert Wallet.objects.get(organization=org).held == 22


@pytest.mark.django_db
def test_the_same_idempotency_key_returns_the_first_jobs_and_holds_once(org):
    first, created = submit(org, images=[image_input(), image_input()], idempotency_key="order-17", fingerprint="abc")
    again, created_again = submit(
        org, images=[image_input(), image_input()], idempotency_key="order-17", fingerprint="abc"
    )

    assert created is True and created_again is False
    assert [j.id for j in again] == [j.id for j in first]
    assert Job.objects.filter(organization=org).count() == 2
    assert len(holds(org)) == 2
    assert Wallet.objects.get(organization=org).held == 2 * PLAIN_PRICE


@pytest.mark.django_db
def test_losing_the_key_race_inside_a_callers_transaction_answers_the_winner_and_keeps_it_usable(
    org, monkeypatch, _media_root
):
    # The test runs inside a transaction (django_db): the admission's unique violation must roll
    # back to a savepoint, not doom the caller's transaction, and leave no file behind.
    first, _ = submit(org, idempotency_key="order-99", fingerprint="abc")
    looked_up = []
    real = jobs_for_key

    def missed_once(organization, key):  # the concurrent winner committed after our look-up
        looked_up.append(key)
        return [] if len(looked_up) == 1 else real(organization, key)

    monkeypatch.setattr("jobs.services.jobs_for_key", missed_once)
    again, created = submit(org, idempotency_key="order-99", fingerprint="abc")
    assert created is False and [j.id for j in again] == [j.id for j in first]
    assert len(looked_up) == 2
    assert Job.objects.filter(organization=org).count() == 1  # the transaction still works
    assert len(holds(org)) == 1 and Wallet.objects.get(organization=org).in_flight == 1
    assert len(media_files(_media_root)) == 1


@pytest.mark.django_db
def test_a_reused_key_with_a_different_request_is_refused(org):
    submit(org, idempotency_key="k1", fingerprint="first")
    with pytest.raises(UnprocessableEntity):
        submit(org, idempotency_key="k1", fingerprint="second")
    assert Job.objects.filter(organization=org).count() == 1


@pytest.mark.django_db
def test_idempotency_keys_are_per_organization(org, other_org):
    mine, _ = submit(org, idempotency_key="shared-key")
    theirs, created = submit(other_org, idempotency_key="shared-key")
    assert created is True
    assert theirs[0].id != mine[0].id
    assert theirs[0].organization_id == other_org.id


@pytest.mark.django_db
def test_a_key_with_the_reserved_separator_is_refused(org):
    with pytest.raises(BadRequest):
        submit(org, idempotency_key="a::b")


@pytest.mark.django_db
def test_insufficient_balance_leaves_no_file_no_job_and_no_hold(db, _media_root):
    poor = OrganizationFactory(name="Poor", initial_credit=PLAIN_PRICE + 5)
    # The first image's hold fits, the second's does not: its file is already written by then.
    with pytest.raises(InsufficientBalance):
        submit(poor, images=[image_input(), image_input()])

    assert Job.objects.filter(organization=poor).count() == 0
    assert holds(poor) == []
    assert Wallet.objects.get(organization=poor).held == 0
    assert media_files(_media_root) == []


@pytest.mark.django_db
def test_the_in_flight_cap_refuses_more_jobs_than_the_plan_allows(org, _media_root):
    org.plan.max_jobs_in_flight = 3
    org.plan.save()
    submit(org, images=[image_input(), image_input()])
    with pytest.raises(TooManyJobsInFlight) as excinfo:
        submit(org, images=[image_input(), image_input()])
    assert excinfo.value.status_code == 429
    assert Job.objects.filter(organization=org).count() == 2
    assert len(media_files(_media_root)) == 2
    # Finished jobs do not count.
    Job.objects.filter(organization=org).update(status=Job.Status.COMPLETED)
    for job in Job.objects.filter(organization=org):
        hold_capture(job=job)  # what completing does, so the money reconciles
    jobs, created = submit(org, images=[image_input(), image_input(), image_input()])
    assert created and len(jobs) == 3


@pytest.mark.django_db
def test_an_empty_request_is_refused(org):
    with pytest.raises(BadRequest):
        submit(org, images=[])


@pytest.mark.django_db
def test_an_unknown_webhook_event_is_refused_before_anything_is_stored(org, _media_root, receiver):
    with pytest.raises(BadRequest):
        submit(org, webhook_url=receiver.url, webhook_events=["start", "finished"])
    assert Job.objects.count() == 0
    assert media_files(_media_root) == []


@pytest.mark.django_db
def test_the_webhook_filter_defaults_to_every_event(org, receiver):
    jobs, _ = submit(org, webhook_url=receiver.url)
    assert jobs[0].webhook_events == ["start", "output", "logs", "completed"]
    jobs, _ = submit(org, webhook_url=receiver.url, webhook_events=["completed"])
    assert jobs[0].webhook_events == ["completed"]


@pytest.mark.django_db
def test_the_job_is_enqueued_only_after_the_transaction_commits(org, broker, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        submit(org)
        assert broker.do_qsize("gpu") == 0
    assert broker.do_qsize("gpu") == 0
    for callback in callbacks:
        callback()
    assert broker.do_qsize("gpu") == 1


def _in_threads(count: int, fn, *, pool: int = 20):
    barrier = threading.Barrier(min(count, pool))

    def run(i):
        try:
            with contextlib.suppress(threading.BrokenBarrierError):
                barrier.wait(timeout=30)
            return fn(i)
        except Exception as exc:  # collected and asserted on by the caller
            return exc
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=pool) as executor:
        return list(executor.map(run, range(count)))


@pytest.mark.django_db(transaction=True)
def test_a_race_of_ten_requests_with_the_same_key_makes_one_job(_media_root):
    org = OrganizationFactory(name="Racer", initial_credit=1000)
    results = _in_threads(10, lambda i: submit(org, idempotency_key="race-key", fingerprint="same"), pool=10)

    errors = [r for r in results if isinstance(r, Exception)]
    assert errors == []
    assert Job.objects.filter(organization=org).count() == 1
    job_ids = {jobs[0].id for jobs, _created in results}
    assert len(job_ids) == 1
    assert sum(1 for _jobs, created in results if created) == 1
    assert len(holds(org)) == 1
    assert Wallet.objects.get(organization=org).held == PLAIN_PRICE
    assert len(media_files(_media_root)) == 1


@pytest.mark.django_db(transaction=True)
def test_a_hundred_parallel_submissions_against_a_balance_for_ten_make_exactly_ten_jobs(_media_root):
    org = OrganizationFactory(name="Crowd", initial_credit=10 * PLAIN_PRICE)
    results = _in_threads(100, lambda i: submit(org))

    created = [r for r in results if not isinstance(r, Exception)]
    refused = [r for r in results if isinstance(r, Exception)]
    assert len(created) == 10
    assert len(refused) == 90
    assert all(isinstance(e, InsufficientBalance) for e in refused), {type(e) for e in refused}
    assert Job.objects.filter(organization=org).count() == 10
    assert len(holds(org)) == 10
    wallet = Wallet.objects.get(organization=org)
    assert wallet.held == wallet.balance == 10 * PLAIN_PRICE
    assert len(media_files(_media_root)) == 10
