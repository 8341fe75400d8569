"""Dead workers are found by their heartbeat: the job records which worker claimed it, and the
sweep re-queues (or, out of attempts, fails and releases) the jobs of a worker whose heartbeat
stopped. The age-based sweep stays as the backstop."""

from __future__ import annotations

import os
import threading
from datetime import timedelta
from pathlib import Path

import dramatiq
import pytest
from django.db import connection
from django.utils import timezone

from billing.models import LedgerEntry, Wallet
from jobs.embedded import ensure_time_limits
from jobs.models import Job, JobLog, WorkerHeartbeat
from jobs.scheduler import default_schedule
from jobs.services import job_submit, job_sweep_stale
from tests.accounts.factories import OrganizationFactory
from tests.jobs.conftest import PLAIN, image_input, wait_until

Kind = LedgerEntry.Kind
ROOT = Path(__file__).resolve().parents[2]


def submit_one(org) -> Job:
    jobs, _ = job_submit(organization=org, params=PLAIN, images=[image_input()], source=Job.Source.GATEWAY)
    return jobs[0]


def processing(job: Job, *, worker_id: str, started_s_ago: float, attempts: int = 1) -> None:
    Job.objects.filter(id=job.id).update(
        status=Job.Status.PROCESSING,
        started_at=timezone.now() - timedelta(seconds=started_s_ago),
        attempts=attempts,
        worker_id=worker_id,
    )


def beat(worker_id: str, *, seen_s_ago: float) -> None:
    WorkerHeartbeat.objects.create(
        worker_id=worker_id,
        hostname="gpu-1",
        device="cuda",
        models_loaded=["codeformer"],
        seen_at=timezone.now() - timedelta(seconds=seen_s_ago),
    )


def kinds(job) -> list[str]:
    return sorted(LedgerEntry.objects.filter(job_id=job.id).values_list("kind", flat=True))


@pytest.fixture
def dead_after(settings) -> int:
    return settings.WORKER_DEAD_AFTER_S


@pytest.mark.django_db
def test_a_job_whose_worker_stopped_beating_is_requeued_and_sent_again(
    org, broker, dead_after, django_capture_on_commit_callbacks
):
    job = submit_one(org)
    processing(job, worker_id="gpu-1:41:dead", started_s_ago=dead_after + 60)
    beat("gpu-1:41:dead", seen_s_ago=dead_after + 1)
    broker.flush_all()

    with django_capture_on_commit_callbacks(execute=True):
        counts = job_sweep_stale()

    job.refresh_from_db()
    assert counts["requeued"] == 1
    assert (job.status, job.started_at, job.worker_id, job.attempts) == (Job.Status.QUEUED, None, "", 1)
    assert kinds(job) == [Kind.HOLD]  # still held, for the next attempt
    assert broker.do_qsize("gpu") == 1
    assert JobLog.objects.filter(job=job, message__startswith="The worker stopped responding").exists()


@pytest.mark.django_db
def test_a_job_whose_worker_left_no_heartbeat_at_all_is_requeued(org, dead_after):
    job = submit_one(org)
    processing(job, worker_id="gpu-1:42:gone", started_s_ago=dead_after + 1)
    assert job_sweep_stale()["requeued"] == 1
    assert Job.objects.get(id=job.id).status == Job.Status.QUEUED


@pytest.mark.django_db
def test_a_long_job_of_a_live_worker_is_left_alone(org, settings, dead_after):
    job = submit_one(org)
    # Ten minutes in: far past the dead window, still inside the time limit, beating.
    processing(job, worker_id="gpu-1:43:alive", started_s_ago=600)
    beat("gpu-1:43:alive", seen_s_ago=settings.WORKER_HEARTBEAT_S)
    assert settings.JOB_STALE_AFTER_S > 600

    assert job_sweep_stale() == {"requeued": 0, "errored": 0, "resent": 0}
    assert Job.objects.get(id=job.id).status == Job.Status.PROCESSING


@pytest.mark.django_db
def test_a_job_claimed_by_a_worker_that_has_not_beaten_yet_is_left_alone(org, dead_after):
    job = submit_one(org)
    processing(job, worker_id="gpu-1:44:booting", started_s_ago=dead_after / 2)
    assert job_sweep_stale()["requeued"] == 0
    assert Job.objects.get(id=job.id).status == Job.Status.PROCESSING


@pytest.mark.django_db
def test_a_job_claimed_outside_a_worker_is_left_to_the_age_based_backstop(org, settings, dead_after):
    job = submit_one(org)
    processing(job, worker_id="", started_s_ago=dead_after + 60)
    assert job_sweep_stale()["requeued"] == 0
    processing(job, worker_id="", started_s_ago=settings.JOB_STALE_AFTER_S + 5)
    assert job_sweep_stale()["requeued"] == 1


@pytest.mark.django_db
def test_the_backstop_takes_a_job_past_the_stale_window_even_from_a_live_worker(org, settings):
    """A thread stuck where the time limit cannot reach it still has a beating process."""
    job = submit_one(org)
    processing(job, worker_id="gpu-1:45:stuck", started_s_ago=settings.JOB_STALE_AFTER_S + 5)
    beat("gpu-1:45:stuck", seen_s_ago=0)
    assert job_sweep_stale()["requeued"] == 1


@pytest.mark.django_db
def test_a_dead_workers_job_out_of_attempts_ends_in_error_and_releases_its_hold(org, settings, dead_after):
    job = submit_one(org)
    processing(job, worker_id="gpu-1:46:dead", started_s_ago=dead_after + 60, attempts=settings.JOB_MAX_ATTEMPTS)
    beat("gpu-1:46:dead", seen_s_ago=dead_after + 30)

    counts = job_sweep_stale()

    job.refresh_from_db()
    assert counts == {"requeued": 0, "errored": 1, "resent": 0}
    assert job.status == Job.Status.ERROR
    assert "stopped responding" in job.error
    assert kinds(job) == [Kind.HOLD, Kind.RELEASE]
    assert Wallet.objects.get(organization=org).held == 0


def test_the_sweep_runs_often_enough_to_find_a_dead_worker_within_about_a_minute(settings):
    period = dict(default_schedule())["sweep_stale_jobs"]
    assert period == settings.JOB_SWEEP_INTERVAL_S
    assert settings.WORKER_DEAD_AFTER_S + period <= 60
    assert settings.WORKER_DEAD_AFTER_S > settings.WORKER_HEARTBEAT_S


# --- Real workers ------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_job_records_the_worker_that_claimed_it_and_that_workers_heartbeat(broker, fake_engine):
    org = OrganizationFactory(name="Acme", initial_credit=1000)
    gate = fake_engine.gate = threading.Event()
    ensure_time_limits(broker)
    worker = dramatiq.Worker(broker, queues={"gpu"}, worker_timeout=100, worker_threads=1)
    worker.start()
    try:
        job = submit_one(org)
        wait_until(lambda: Job.objects.filter(id=job.id, status=Job.Status.PROCESSING).exists())
        beat_row = wait_until(lambda: WorkerHeartbeat.objects.first())
        claimed = Job.objects.get(id=job.id)
        assert claimed.worker_id == beat_row.worker_id
        assert claimed.worker_id.split(":")[1] == str(os.getpid())
        # Beating, so the sweep leaves it alone even with the dead window squeezed to its minimum.
        assert job_sweep_stale()["requeued"] == 0
    finally:
        gate.set()
        broker.join("gpu")
        worker.join()
        worker.stop()
        connection.close()
    assert Job.objects.get(id=job.id).status == Job.Status.COMPLETED


def test_missing_weights_at_warm_up_are_one_plain_warning_not_a_traceback(settings, caplog):
    import logging

    from jobs import engine, heartbeat
    from ml.errors import WeightsError

    class NoWeights:
        def warmup(self):
            raise WeightsError("/srv/weights/codeformer.pth is missing")

    settings.RESTORATION_ENGINE = "tests.jobs.test_dead_workers.NoWeights"
    engine._engines[settings.RESTORATION_ENGINE] = NoWeights()
    try:
        with caplog.at_level(logging.WARNING, logger="jobs.heartbeat"):
            heartbeat._warm_up()
    finally:
        engine.reset_engine()
    records = [r for r in caplog.records if r.name == "jobs.heartbeat"]
    assert len(records) == 1 and records[0].levelno == logging.WARNING and records[0].exc_info is None
    assert "codeformer.pth is missing" in records[0].getMessage()
