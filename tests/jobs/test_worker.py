"""The full lifecycle through a real Dramatiq RedisBroker and an in-process dramatiq.Worker."""

from __future__ import annotations

import contextlib

import dramatiq
import pytest
from django.db import connection
from PIL import Image

from billing.models import LedgerEntry, Wallet
from jobs.actors import process_job
from jobs.embedded import ensure_time_limits
from jobs.models import Job, WorkerHeartbeat
from jobs.selectors import queue_depth, worker_status
from jobs.services import job_submit
from tests.accounts.factories import OrganizationFactory
from tests.jobs.conftest import PLAIN, PLAIN_PRICE, image_input, wait_until

pytestmark = pytest.mark.django_db(transaction=True)
Kind = LedgerEntry.Kind


@contextlib.contextmanager
def running_worker(broker):
    ensure_time_limits(broker)  # what runservice does; the dramatiq CLI does it on process boot
    worker = dramatiq.Worker(broker, worker_timeout=100, worker_threads=2)
    worker.start()
    try:
        yield worker
    finally:
        worker.stop()
        connection.close()


def drain(broker, worker) -> None:
    broker.join("gpu")
    worker.join()


def test_submitted_jobs_are_processed_by_the_worker_and_charged(broker, worker):
    org = OrganizationFactory(name="Acme", initial_credit=1000)
    jobs, _ = job_submit(
        organization=org, params=PLAIN, images=[image_input(24, 16), image_input(10, 12)], source=Job.Source.GATEWAY
    )

    drain(broker, worker)

    for job, size in zip(jobs, [(48, 32), (20, 24)], strict=True):
        job.refresh_from_db()
        assert job.status == Job.Status.COMPLETED, job.error
        with job.output_file.open("rb") as handle:
            assert Image.open(handle).size == size
        assert sorted(LedgerEntry.objects.filter(job=job).values_list("kind", flat=True)) == [Kind.CAPTURE, Kind.HOLD]
    wallet = Wallet.objects.get(organization=org)
    assert (wallet.balance, wallet.held) == (1000 - 2 * PLAIN_PRICE, 0)
    assert queue_depth() == 0


def test_the_gpu_worker_writes_a_heartbeat_the_health_check_reads(broker):
    with running_worker(broker):
        beat = wait_until(lambda: WorkerHeartbeat.objects.first())  # written by a thread right after boot
        status = worker_status()
        assert status["alive"] is True
        assert status["device"] == "cpu"
        assert beat.models_loaded == ["codeformer"]

    # A clean shutdown removes the worker's heartbeat: the health check no longer counts it.
    assert WorkerHeartbeat.objects.count() == 0
    assert worker_status()["alive"] is False


def test_a_message_sent_twice_for_a_finished_job_does_nothing(broker, worker, fake_engine):
    org = OrganizationFactory(name="Acme", initial_credit=1000)
    jobs, _ = job_submit(organization=org, params=PLAIN, images=[image_input()], source=Job.Source.GATEWAY)
    drain(broker, worker)
    finished = Job.objects.get(id=jobs[0].id)

    process_job.send(str(finished.id))
    process_job.send(str(finished.id))
    drain(broker, worker)

    again = Job.objects.get(id=finished.id)
    assert fake_engine.calls == 1
    assert (again.status, again.attempts, again.updated_at) == (Job.Status.COMPLETED, 1, finished.updated_at)
    assert LedgerEntry.objects.filter(job=again, kind=Kind.CAPTURE).count() == 1


def test_a_job_past_its_time_limit_is_an_error_and_releases_the_hold(broker, fake_engine):
    org = OrganizationFactory(name="Acme", initial_credit=1000)
    jobs, _ = job_submit(organization=org, params=PLAIN, images=[image_input()], source=Job.Source.GATEWAY)
    broker.flush_all()  # drop the normal message; send one with a 1 s limit instead
    fake_engine.busy_s = 30
    with running_worker(broker) as worker:
        process_job.send_with_options(args=(str(jobs[0].id),), time_limit=1000)
        drain(broker, worker)

    job = Job.objects.get(id=jobs[0].id)
    assert job.status == Job.Status.ERROR
    assert "time limit" in job.error
    assert sorted(LedgerEntry.objects.filter(job=job).values_list("kind", flat=True)) == [Kind.HOLD, Kind.RELEASE]
    assert Wallet.objects.get(organization=org).held == 0
