"""A real GPU worker process (``manage.py rundramatiq``) killed with SIGKILL in the middle of a job:
no clean shutdown, its heartbeat row left behind and going stale. The sweep must find the job by
that heartbeat (long before the age-based backstop could) and the job must run again, charged
once."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

from billing.models import LedgerEntry
from jobs.models import Job, WorkerHeartbeat
from jobs.services import job_run, job_sweep_stale
from tests.accounts.factories import OrganizationFactory
from tests.jobs.conftest import wait_until
from tests.jobs.test_dead_workers import kinds, submit_one

Kind = LedgerEntry.Kind
ROOT = Path(__file__).resolve().parents[2]


@contextlib.contextmanager
def worker_process(*, heartbeat_s: int, media_root: str):
    """``manage.py rundramatiq`` for the gpu queue, in its own process group, on this test's
    database, broker and media folder, with an engine that never finishes."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings_test",
        "DATABASE_URL": _test_database_url(),
        "MEDIA_ROOT": str(media_root),
        "RESTORATION_ENGINE": "tests.jobs.engines.StuckEngine",
        "WORKER_HEARTBEAT_S": str(heartbeat_s),
        "WORKER_DEAD_AFTER_S": str(heartbeat_s * 3),
    }
    command = [sys.executable, "manage.py", "rundramatiq", "--processes", "1", "--threads", "1", "--queues", "gpu"]
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        yield process
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


def _test_database_url() -> str:
    params = connection.settings_dict
    return f"postgres://{params['USER']}@{params['HOST']}:{params['PORT']}/{params['NAME']}"


@pytest.mark.django_db(transaction=True)
def test_a_killed_worker_process_is_found_by_its_heartbeat_and_its_job_runs_again(broker, fake_engine, settings):
    settings.WORKER_HEARTBEAT_S = 1
    settings.WORKER_DEAD_AFTER_S = 3
    org = OrganizationFactory(name="Acme", initial_credit=1000)
    job = submit_one(org)
    assert settings.JOB_STALE_AFTER_S > 600  # only the heartbeat can find it in this test's time

    with worker_process(heartbeat_s=1, media_root=settings.MEDIA_ROOT) as process:
        running = wait_until(
            lambda: Job.objects.filter(id=job.id, status=Job.Status.PROCESSING).exclude(worker_id="").first(),
            timeout=120,
        )
        wait_until(lambda: WorkerHeartbeat.objects.filter(worker_id=running.worker_id).exists(), timeout=60)
        assert job_sweep_stale()["requeued"] == 0  # alive and beating: left alone
        os.killpg(process.pid, signal.SIGKILL)  # the whole worker, mid-job, no clean shutdown
        process.wait(timeout=30)

    assert WorkerHeartbeat.objects.filter(worker_id=running.worker_id).exists()  # nobody removed it
    broker.flush_all()
    wait_until(lambda: job_sweep_stale()["requeued"], timeout=30, interval=0.5)
    requeued = Job.objects.get(id=job.id)
    assert (requeued.status, requeued.attempts, requeued.worker_id) == (Job.Status.QUEUED, 1, "")
    assert kinds(requeued) == [Kind.HOLD]

    finished = job_run(job_id=job.id)  # the next worker (here: this process, the stand-in engine)
    assert (finished.status, finished.attempts) == (Job.Status.COMPLETED, 2)
    assert kinds(finished) == [Kind.CAPTURE, Kind.HOLD]
