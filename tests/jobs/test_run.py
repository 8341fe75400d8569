"""The worker's run (job_run), cancellation and the stale-job sweep, called directly."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.db import connection
from django.utils import timezone
from dramatiq.middleware.shutdown import Shutdown
from dramatiq.middleware.time_limit import TimeLimitExceeded
from PIL import Image

from billing.models import LedgerEntry, Wallet
from config.errors import Conflict, NotFound
from jobs import failures
from jobs.models import Job, JobLog
from jobs.services import job_cancel, job_run, job_submit, job_sweep_stale, jobs_wait
from ml.errors import RestorationFailed, WeightsError
from tests.accounts.factories import OrganizationFactory
from tests.jobs.conftest import PLAIN, PLAIN_PRICE, image_input

Kind = LedgerEntry.Kind


def submit_one(org, **kwargs) -> Job:
    kwargs.setdefault("images", [image_input()])
    jobs, _ = job_submit(organization=org, params=PLAIN, source=Job.Source.GATEWAY, **kwargs)
    return jobs[0]


def kinds(job) -> list[str]:
    return sorted(LedgerEntry.objects.filter(job_id=job.id).values_list("kind", flat=True))


def wallet(org) -> Wallet:
    return Wallet.objects.get(organization=org)


@pytest.mark.django_db
def test_a_completed_job_stores_a_real_png_and_captures_the_hold(org):
    job = submit_one(org, images=[image_input(24, 16)])

    job = job_run(job_id=job.id)

    assert job.status == Job.Status.COMPLETED
    assert job.error == ""
    assert job.output_file.name == f"outputs/{org.id}/{job.id}.png"
    with default_storage.open(job.output_file.name) as handle:
        image = Image.open(handle)
        image.load()
    assert image.size == (48, 32) == (job.output_width, job.output_height)
    assert job.faces_detected == 1
    assert set(job.timings) == {"decode", "restore"}
    assert job.attempts == 1
    assert job.started_at is not None and job.completed_at >= job.started_at
    assert kinds(job) == [Kind.CAPTURE, Kind.HOLD]
    assert (wallet(org).balance, wallet(org).held) == (1000 - PLAIN_PRICE, 0)
    messages = list(JobLog.objects.filter(job=job).values_list("message", flat=True))
    assert messages[0] == "Request queued."
    assert "Decoding the image." in messages and "Restoring faces." in messages
    assert messages[-1].startswith("Completed: 48x32")


@pytest.mark.django_db
def test_a_redelivered_message_for_a_finished_job_does_nothing(org, fake_engine):
    job = submit_one(org)
    job_run(job_id=job.id)
    finished = Job.objects.get(id=job.id)

    assert job_run(job_id=job.id) is None

    again = Job.objects.get(id=job.id)
    assert fake_engine.calls == 1
    assert (again.status, again.attempts, again.completed_at) == (Job.Status.COMPLETED, 1, finished.completed_at)
    assert kinds(job) == [Kind.CAPTURE, Kind.HOLD]
    assert wallet(org).balance == 1000 - PLAIN_PRICE


@pytest.mark.django_db
def test_an_input_the_pipeline_rejects_is_failed_with_the_reason_and_not_charged(org, _media_root):
    job = submit_one(org, images=[image_input(data=b"\x89PNG\r\n\x1a\n this is not really a png")])

    job = job_run(job_id=job.id)

    assert job.status == Job.Status.FAILED
    # The reason from ml.imageio, then what to send instead.
    assert job.error.startswith(("Image is truncated or corrupt.", "Not an image"))
    assert "try again" in job.error and "not charged" in job.error
    assert "InvalidImage" in job.error_detail
    assert kinds(job) == [Kind.HOLD, Kind.RELEASE]
    assert (wallet(org).balance, wallet(org).held) == (1000, 0)
    assert not job.output_file.name
    assert list(_media_root.glob("outputs/**/*.png")) == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("raised", "expected_error"),
    [
        (RestorationFailed("face restoration produced NaNs"), failures.FAILED_ON_OUR_SIDE),
        (WeightsError("/srv/weights/codeformer.pth fails its checksum"), failures.UNAVAILABLE),
        (KeyError("secret internals"), failures.UNEXPECTED),
    ],
)
def test_a_pipeline_failure_on_good_input_is_an_error_and_not_charged(org, fake_engine, raised, expected_error):
    fake_engine.fail_with = raised
    job = submit_one(org)

    job = job_run(job_id=job.id)

    assert job.status == Job.Status.ERROR
    # The customer reads what happened and what to do; the engine's words stay with the operator.
    assert job.error == expected_error
    assert "not charged" in job.error
    assert str(raised).strip("'") not in job.error
    assert str(raised).strip("'") in job.error_detail
    assert type(raised).__name__ in job.error_detail
    assert not JobLog.objects.filter(job=job, message__contains=str(raised).strip("'")).exists()
    assert kinds(job) == [Kind.HOLD, Kind.RELEASE]
    assert (wallet(org).balance, wallet(org).held) == (1000, 0)


@pytest.mark.django_db
def test_a_job_is_never_completed_when_the_engine_returns_no_image(org, settings):
    settings.RESTORATION_ENGINE = "tests.jobs.engines.LyingEngine"
    job = submit_one(org)

    job = job_run(job_id=job.id)

    assert job.status == Job.Status.ERROR
    assert job.error == failures.FAILED_ON_OUR_SIDE
    assert "no PNG" in job.error_detail
    assert kinds(job) == [Kind.HOLD, Kind.RELEASE]


@pytest.mark.django_db
def test_canceling_a_queued_job_releases_the_hold_and_the_worker_then_skips_it(org, fake_engine):
    job = submit_one(org)

    job = job_cancel(organization=org, job=job)

    assert job.status == Job.Status.CANCELED
    assert job.completed_at is not None
    assert kinds(job) == [Kind.HOLD, Kind.RELEASE]
    assert wallet(org).held == 0
    assert job_run(job_id=job.id) is None
    assert fake_engine.calls == 0
    # Canceling twice is harmless; canceling a finished job is a conflict.
    assert job_cancel(organization=org, job=job).status == Job.Status.CANCELED
    done = submit_one(org)
    job_run(job_id=done.id)
    with pytest.raises(Conflict):
        job_cancel(organization=org, job=Job.objects.get(id=done.id))


@pytest.mark.django_db
def test_a_wait_that_times_out_cancels_with_its_own_reason_not_the_clients(org, fake_engine):
    waiting, done = submit_one(org), submit_one(org)
    job_run(job_id=done.id)

    finished, canceled = jobs_wait(organization=org, jobs=[waiting, done], timeout_s=0)

    assert [job.id for job in canceled] == [waiting.id]
    assert [job.status for job in finished] == [Job.Status.CANCELED, Job.Status.COMPLETED]
    assert canceled[0].error == "Timed out: not finished within 0 seconds; canceled and not charged."
    assert kinds(canceled[0]) == [Kind.HOLD, Kind.RELEASE]
    _, again = jobs_wait(organization=org, jobs=[submit_one(org)], timeout_s=0, cancel_reason="Too slow for X.")
    assert again[0].error == "Too slow for X."
    assert job_cancel(organization=org, job=submit_one(org)).error == "Canceled by the client."


@pytest.mark.django_db
def test_an_outsider_cannot_cancel_another_organizations_job(org, other_org):
    job = submit_one(org)
    with pytest.raises(NotFound):
        job_cancel(organization=other_org, job=job)
    assert Job.objects.get(id=job.id).status == Job.Status.QUEUED


def _run_in_thread(job_id) -> threading.Thread:
    def target():
        try:
            job_run(job_id=job_id)
        finally:
            connection.close()

    thread = threading.Thread(target=target)
    thread.start()
    return thread


@pytest.mark.django_db(transaction=True)
def test_canceling_a_processing_job_releases_the_hold_and_discards_the_late_result(fake_engine, _media_root):
    org = OrganizationFactory(name="Acme", initial_credit=1000)
    fake_engine.gate = threading.Event()
    job = submit_one(org)
    thread = _run_in_thread(job.id)
    assert fake_engine.started.wait(timeout=30)
    assert Job.objects.get(id=job.id).status == Job.Status.PROCESSING

    job_cancel(organization=org, job=Job.objects.get(id=job.id))
    fake_engine.gate.set()  # the worker now finishes its (late) restoration
    thread.join(timeout=30)

    job = Job.objects.get(id=job.id)
    assert job.status == Job.Status.CANCELED
    assert not job.output_file.name
    assert kinds(job) == [Kind.HOLD, Kind.RELEASE]
    assert (wallet(org).balance, wallet(org).held) == (1000, 0)
    assert list(_media_root.glob("outputs/**/*.png")) == []


def _run_interrupted_inside_a_query(fake_engine, interrupt: BaseException) -> tuple:
    """Run a job whose engine raises ``interrupt`` with the database connection left the way an
    interrupt landing inside the driver leaves it: a query sent, its answer never read."""

    def leave_the_connection_mid_command() -> None:
        connection.ensure_connection()
        connection.connection.pgconn.send_query(b"SELECT pg_sleep(0.05)")

    org = OrganizationFactory(name="Acme", initial_credit=1000)
    fake_engine.fail_with = interrupt
    fake_engine.before_fail = leave_the_connection_mid_command
    job = submit_one(org)
    return org, job_run(job_id=job.id)


@pytest.mark.django_db(transaction=True)
def test_a_shutdown_landing_inside_a_query_still_hands_the_job_back(fake_engine, broker, _media_root):
    org, job = _run_interrupted_inside_a_query(fake_engine, Shutdown())

    assert job.status == Job.Status.QUEUED
    assert job.logs.filter(message__contains="The worker shut down; re-queued").exists()
    assert kinds(job) == [Kind.HOLD]
    assert (wallet(org).balance, wallet(org).held) == (1000, PLAIN_PRICE)


@pytest.mark.django_db(transaction=True)
def test_a_time_limit_landing_inside_a_query_still_ends_the_job_uncharged(fake_engine, _media_root):
    org, job = _run_interrupted_inside_a_query(fake_engine, TimeLimitExceeded())

    assert job.status == Job.Status.ERROR
    assert "not charged" in job.error
    assert kinds(job) == [Kind.HOLD, Kind.RELEASE]
    assert (wallet(org).balance, wallet(org).held) == (1000, 0)


@pytest.mark.django_db
def test_the_sweep_requeues_a_stale_processing_job_that_has_attempts_left(org, settings, broker):
    job = submit_one(org)
    stale_start = timezone.now() - timedelta(seconds=settings.JOB_STALE_AFTER_S + 5)
    Job.objects.filter(id=job.id).update(status=Job.Status.PROCESSING, started_at=stale_start, attempts=1)

    counts = job_sweep_stale()

    job = Job.objects.get(id=job.id)
    assert counts["requeued"] == 1
    assert (job.status, job.started_at, job.attempts) == (Job.Status.QUEUED, None, 1)
    assert kinds(job) == [Kind.HOLD]
    # A second run (attempt 2) completes it.
    assert job_run(job_id=job.id).status == Job.Status.COMPLETED
    assert Job.objects.get(id=job.id).attempts == 2


@pytest.mark.django_db
def test_the_sweep_errors_a_stale_job_out_of_attempts_and_releases_its_hold(org, settings):
    job = submit_one(org)
    stale_start = timezone.now() - timedelta(seconds=settings.JOB_STALE_AFTER_S + 5)
    Job.objects.filter(id=job.id).update(
        status=Job.Status.PROCESSING, started_at=stale_start, attempts=settings.JOB_MAX_ATTEMPTS
    )

    counts = job_sweep_stale()

    job = Job.objects.get(id=job.id)
    assert counts["errored"] == 1
    assert job.status == Job.Status.ERROR
    assert "stopped responding" in job.error
    assert kinds(job) == [Kind.HOLD, Kind.RELEASE]
    assert wallet(org).held == 0


@pytest.mark.django_db
def test_the_sweep_leaves_recent_processing_jobs_alone(org):
    job = submit_one(org)
    Job.objects.filter(id=job.id).update(status=Job.Status.PROCESSING, started_at=timezone.now(), attempts=1)
    assert job_sweep_stale() == {"requeued": 0, "errored": 0, "resent": 0}
    assert Job.objects.get(id=job.id).status == Job.Status.PROCESSING


@pytest.mark.django_db
def test_the_sweep_resends_a_queued_job_whose_message_was_lost(org, settings, broker):
    job = submit_one(org)  # on_commit never runs here: the message is "lost"
    assert broker.do_qsize("gpu") == 0
    Job.objects.filter(id=job.id).update(updated_at=timezone.now() - timedelta(seconds=settings.JOB_STALE_AFTER_S + 5))

    assert job_sweep_stale()["resent"] == 1
    assert broker.do_qsize("gpu") == 1
    assert job_sweep_stale()["resent"] == 0  # not again within the same stale window


@pytest.mark.django_db(transaction=True)
def test_a_worker_that_lost_its_job_to_the_sweep_cannot_finish_it(fake_engine, settings, _media_root):
    org = OrganizationFactory(name="Acme", initial_credit=1000)
    old_gate = fake_engine.gate = threading.Event()
    job = submit_one(org)
    thread = _run_in_thread(job.id)
    assert fake_engine.started.wait(timeout=30)
    # The first worker looks dead: the sweep re-queues the job and a second worker completes it.
    Job.objects.filter(id=job.id).update(started_at=timezone.now() - timedelta(seconds=settings.JOB_STALE_AFTER_S + 5))
    assert job_sweep_stale()["requeued"] == 1
    fake_engine.gate = None
    assert job_run(job_id=job.id).status == Job.Status.COMPLETED
    completed = Job.objects.get(id=job.id)

    old_gate.set()
    thread.join(timeout=30)

    job = Job.objects.get(id=job.id)
    assert (job.status, job.attempts, job.completed_at) == (Job.Status.COMPLETED, 2, completed.completed_at)
    assert job.output_file.name == completed.output_file.name
    assert default_storage.exists(job.output_file.name)
    assert kinds(job) == [Kind.CAPTURE, Kind.HOLD]
    assert wallet(org).balance == 1000 - PLAIN_PRICE


@pytest.mark.django_db
def test_a_job_whose_input_was_removed_before_it_ran_is_an_error_and_not_charged(org):
    from jobs.retention import job_moderate

    job = submit_one(org)
    job_moderate(job=job, note="removed")

    job = job_run(job_id=job.id)

    assert job.status == Job.Status.ERROR
    assert job.error == failures.INPUT_GONE
    assert kinds(job) == [Kind.HOLD, Kind.RELEASE]
