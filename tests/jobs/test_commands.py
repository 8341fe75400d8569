"""The maintenance commands, the scheduler loop and the embedded (in-process) worker."""

from __future__ import annotations

import io
import threading
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from jobs.embedded import start_embedded_workers
from jobs.models import Job
from jobs.scheduler import run_schedule
from jobs.services import job_submit
from tests.accounts.factories import OrganizationFactory
from tests.jobs.conftest import PLAIN, image_input, wait_until


@pytest.mark.django_db
def test_sweep_jobs_runs_the_sweeps_once(org, settings, broker, django_capture_on_commit_callbacks):
    jobs, _ = job_submit(organization=org, params=PLAIN, images=[image_input()], source=Job.Source.GATEWAY)
    stale = timezone.now() - timedelta(seconds=settings.JOB_STALE_AFTER_S + 5)
    Job.objects.filter(id=jobs[0].id).update(status=Job.Status.PROCESSING, started_at=stale, attempts=1)
    out = io.StringIO()

    with django_capture_on_commit_callbacks(execute=True):
        call_command("sweep_jobs", stdout=out)

    assert "jobs re-queued: 1" in out.getvalue()
    assert Job.objects.get(id=jobs[0].id).status == Job.Status.QUEUED
    assert broker.do_qsize("gpu") == 1


def test_the_scheduler_sends_every_maintenance_actor(broker):
    stop = threading.Event()
    schedule = [("sweep_stale_jobs", 60), ("sweep_webhooks", 300), ("purge_expired_files", 900)]
    thread = threading.Thread(target=run_schedule, args=(stop,), kwargs={"schedule": schedule, "tick_s": 0.01})
    thread.start()
    wait_until(lambda: broker.do_qsize("maintenance") >= 3, timeout=30)
    stop.set()
    thread.join(timeout=30)

    assert broker.do_qsize("maintenance") == 3  # once each at start; the next sends are minutes away


@pytest.mark.django_db(transaction=True)
def test_the_embedded_worker_picks_up_queued_jobs_whose_messages_were_lost(broker):
    org = OrganizationFactory(name="Acme", initial_credit=1000)
    jobs, _ = job_submit(organization=org, params=PLAIN, images=[image_input()], source=Job.Source.GATEWAY)
    broker.flush_all()  # an in-memory broker forgets its queue when the process restarts

    embedded = start_embedded_workers()
    try:
        job = wait_until(lambda: Job.objects.filter(id=jobs[0].id, status__in=Job.TERMINAL).first())
    finally:
        embedded.stop()
        connection.close()

    assert job.status == Job.Status.COMPLETED
