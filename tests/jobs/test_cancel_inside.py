"""Cancel, time limit and worker shutdown reach inside a running job's pipeline.

The worker is a real Dramatiq worker on the Redis test broker, the engine the REAL
ml.pipeline.RestorationPipeline with counted stand-in networks (tests/ml/slow_models.py). A
stand-in blocks inside a background tile until the test has acted, so the tests can count
the tiles that still started afterwards instead of timing anything. The engine runs its tiles
two side by side (ml/parallel.py), as a CPU worker does: while one stand-in tile is blocked the
other worker goes on, so the tests count from the moment they act.
"""

from __future__ import annotations

import threading
from unittest import mock

import dramatiq
import pytest
from django.db import connection

from billing.models import LedgerEntry, Wallet
from jobs.actors import process_job
from jobs.embedded import ensure_time_limits
from jobs.engine import reset_engine
from jobs.models import Job
from jobs.services import job_cancel, job_submit
from jobs.types import JobParams
from tests.accounts.factories import OrganizationFactory
from tests.jobs.conftest import image_input
from tests.ml.slow_models import SlowModels

pytestmark = pytest.mark.django_db(transaction=True)
Kind = LedgerEntry.Kind
BACKGROUND = JobParams(upscale=2, background_enhance=True, face_upsample=False)
TILES = 80  # a 320x240 photo in the stand-in pipeline's 32-pixel tiles


@pytest.fixture
def slow_engine(settings):
    settings.RESTORATION_ENGINE = "tests.jobs.engines.slow_model_pipeline"
    settings.JOB_CANCEL_POLL_MS = 50
    reset_engine()
    SlowModels.reset()
    SlowModels.delay_s = 0.06  # longer than the poll interval: every check re-reads the row
    yield SlowModels
    SlowModels.reset()
    reset_engine()


@pytest.fixture
def gpu_worker(broker):
    ensure_time_limits(broker)
    worker = dramatiq.Worker(broker, queues={"gpu"}, worker_timeout=100, worker_threads=1)
    worker.start()
    yield worker
    worker.stop()
    connection.close()


def block_at_tile(models, tile: int) -> tuple[threading.Event, threading.Event]:
    """(reached, gate): the stand-in upsampler sets ``reached`` in tile ``tile`` and waits for
    ``gate`` before returning."""
    reached, gate = threading.Event(), threading.Event()

    def hook(name: str, count: int) -> None:
        if name == "upsampler" and count == tile:
            reached.set()
            gate.wait(timeout=60)

    models.on_call = hook
    return reached, gate


def ledger(job) -> list[str]:
    return sorted(LedgerEntry.objects.filter(job=job).values_list("kind", flat=True))


def test_a_cancel_stops_the_running_pipeline_at_the_next_tile_and_the_worker_goes_on(broker, gpu_worker, slow_engine):
    org = OrganizationFactory(name="Acme", initial_credit=10_000)
    reached, gate = block_at_tile(slow_engine, 3)
    jobs, _ = job_submit(organization=org, params=BACKGROUND, images=[image_input(320, 240)], source=Job.Source.GATEWAY)
    assert reached.wait(timeout=60)

    job_cancel(organization=org, job=Job.objects.get(id=jobs[0].id))
    started = slow_engine.count("upsampler")
    gate.set()
    broker.join("gpu")
    gpu_worker.join()

    job = Job.objects.get(id=jobs[0].id)
    assert job.status == Job.Status.CANCELED
    # Of 80: none started after the cancel but the one already handed to the other worker
    # (and one handed out while the cancel committed).
    assert started <= slow_engine.count("upsampler") <= started + 2 < TILES
    assert slow_engine.count("parser") == 0
    assert ledger(job) == [Kind.HOLD, Kind.RELEASE]
    assert not job.output_file.name

    # The same worker takes the next job and completes it.
    slow_engine.on_call = None
    slow_engine.delay_s = 0.0
    following, _ = job_submit(
        organization=org, params=BACKGROUND, images=[image_input(64, 48)], source=Job.Source.GATEWAY
    )
    broker.join("gpu")
    gpu_worker.join()
    done = Job.objects.get(id=following[0].id)
    assert done.status == Job.Status.COMPLETED, done.error
    assert (done.output_width, done.output_height) == (128, 96)
    assert Wallet.objects.get(organization=org).held == 0


def test_a_time_limit_stops_the_pipeline_and_ends_the_job_in_error_with_the_hold_released(
    broker, gpu_worker, slow_engine
):
    org = OrganizationFactory(name="Acme", initial_credit=10_000)
    slow_engine.delay_s = 0.2  # 80 tiles: 16 s of work against a 1 s limit
    # The worker is already consuming: the normal message is never sent (flushing it afterwards
    # raced the worker, which could take it first and run the job without the limit).
    with mock.patch("jobs.services._enqueue"):
        jobs, _ = job_submit(
            organization=org, params=BACKGROUND, images=[image_input(320, 240)], source=Job.Source.GATEWAY
        )
    process_job.send_with_options(args=(str(jobs[0].id),), time_limit=1000)

    broker.join("gpu")
    gpu_worker.join()

    job = Job.objects.get(id=jobs[0].id)
    assert job.status == Job.Status.ERROR
    assert "time limit" in job.error
    assert slow_engine.count("upsampler") < TILES
    assert ledger(job) == [Kind.HOLD, Kind.RELEASE]
    assert Wallet.objects.get(organization=org).held == 0


def test_a_worker_shutdown_stops_the_pipeline_and_hands_the_job_back_to_the_queue(broker, slow_engine):
    org = OrganizationFactory(name="Acme", initial_credit=10_000)
    reached, gate = block_at_tile(slow_engine, 3)
    ensure_time_limits(broker)
    worker = dramatiq.Worker(broker, queues={"gpu"}, worker_timeout=100, worker_threads=1)
    worker.start()
    jobs, _ = job_submit(organization=org, params=BACKGROUND, images=[image_input(320, 240)], source=Job.Source.GATEWAY)
    assert reached.wait(timeout=60)

    # stop() first raises Shutdown in the worker thread, then waits for it; the thread sees
    # the exception once the blocked tile returns.
    started = slow_engine.count("upsampler")
    threading.Timer(0.5, gate.set).start()
    worker.stop()
    connection.close()

    job = Job.objects.get(id=jobs[0].id)
    assert job.status == Job.Status.QUEUED
    # At most the tiles in flight (and those the other worker ran before the Shutdown landed
    # in the 0.5 s the blocked tile waited), of 80.
    assert slow_engine.count("upsampler") < TILES
    assert started >= 3
    assert ledger(job) == [Kind.HOLD]  # still held: the job will run elsewhere
    assert job.logs.filter(message__contains="The worker shut down; re-queued").exists()
    # The job was sent again: a fresh worker completes it.
    slow_engine.on_call = None
    slow_engine.delay_s = 0.0
    with_worker = dramatiq.Worker(broker, queues={"gpu"}, worker_timeout=100, worker_threads=1)
    with_worker.start()
    try:
        broker.join("gpu")
        with_worker.join()
    finally:
        with_worker.stop()
        connection.close()
    job.refresh_from_db()
    assert job.status == Job.Status.COMPLETED, job.error
    assert ledger(job) == [Kind.CAPTURE, Kind.HOLD]
