"""The wallet's in-flight counter (what the plan's cap is checked against) stays equal to the jobs
QUEUED or PROCESSING while submissions, cancels, completions, failures, errors and the stale-job
sweep run at once on real PostgreSQL connections."""

from __future__ import annotations

import contextlib
import random
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.db import connection
from django.utils import timezone

from billing.errors import TooManyJobsInFlight
from billing.models import Plan, Wallet
from billing.services import ledger_check
from config.errors import Conflict
from jobs.models import Job
from jobs.services import job_cancel, job_run, job_submit, job_sweep_stale
from tests.accounts.factories import OrganizationFactory
from tests.jobs.conftest import PLAIN, PLAIN_PRICE, image_input

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("admission_path")]

CAP = 40


def in_flight_now(org) -> tuple[int, int]:
    """(the wallet's counter, the jobs actually in flight)."""
    counter = Wallet.objects.get(organization=org).in_flight
    return counter, Job.objects.filter(organization=org, status__in=Job.IN_FLIGHT).count()


def submit(org, *, data: bytes | None = None):
    image = image_input() if data is None else image_input(data=data)
    return job_submit(organization=org, params=PLAIN, images=[image], source=Job.Source.GATEWAY)[0][0]


def run_all(tasks, *, pool: int = 16) -> list:
    """Run the callables together on their own threads (and DB connections); return what each
    returned or raised."""
    barrier = threading.Barrier(min(len(tasks), pool))

    def run(task):
        try:
            with contextlib.suppress(threading.BrokenBarrierError):
                barrier.wait(timeout=30)
            return task()
        except Exception as exc:  # asserted on by the test
            return exc
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=pool) as executor:
        return list(executor.map(run, tasks))


def test_the_counter_equals_the_jobs_in_flight_after_a_concurrent_mix(settings, _media_root):
    plan = Plan.objects.create(code="mix", name="Mix", requests_per_minute=0, max_jobs_in_flight=CAP)
    org = OrganizationFactory(name="Mixer", initial_credit=10_000, plan=plan)
    good = [submit(org) for _ in range(14)]
    unreadable = [submit(org, data=b"\x89PNG\r\n\x1a\n not really a png") for _ in range(4)]  # -> FAILED
    inputs_gone = [submit(org) for _ in range(4)]  # -> ERROR (input deleted before the run)
    for job in inputs_gone:
        default_storage.delete(job.input_file.name)
    stale = [submit(org) for _ in range(6)]  # a dead worker's: the sweep errors 3, re-queues 3
    stale_start = timezone.now() - timedelta(seconds=settings.JOB_STALE_AFTER_S + 5)
    for index, job in enumerate(stale):
        attempts = settings.JOB_MAX_ATTEMPTS if index % 2 == 0 else 1
        Job.objects.filter(id=job.id).update(status=Job.Status.PROCESSING, started_at=stale_start, attempts=attempts)
    assert in_flight_now(org) == (28, 28)

    completing, canceling, racing = good[:6], good[6:10], good[10:]
    tasks = (
        [lambda: submit(org) for _ in range(20)]  # 12 fit under the cap, at most
        + [lambda job=job: job_run(job_id=job.id) for job in completing + unreadable + inputs_gone]
        + [lambda job=job: job_cancel(organization=org, job=job) for job in canceling]
        # The same jobs run and canceled at once: exactly one of the two settles each.
        + [lambda job=job: job_run(job_id=job.id) for job in racing]
        + [lambda job=job: job_cancel(organization=org, job=job) for job in racing]
        + [job_sweep_stale, job_sweep_stale]
    )
    random.Random(9).shuffle(tasks)
    outcomes = run_all(tasks)

    unexpected = [o for o in outcomes if isinstance(o, Exception) and not isinstance(o, Conflict | TooManyJobsInFlight)]
    assert unexpected == []
    counter, actual = in_flight_now(org)
    assert counter == actual
    assert actual <= CAP
    statuses = dict(Job.objects.filter(id__in=[j.id for j in completing]).values_list("id", "status"))
    assert set(statuses.values()) == {Job.Status.COMPLETED}
    assert set(Job.objects.filter(id__in=[j.id for j in unreadable]).values_list("status", flat=True)) == {"FAILED"}
    assert set(Job.objects.filter(id__in=[j.id for j in inputs_gone]).values_list("status", flat=True)) == {"ERROR"}
    assert set(Job.objects.filter(id__in=[j.id for j in canceling]).values_list("status", flat=True)) == {"CANCELED"}
    swept = Job.objects.filter(id__in=[j.id for j in stale]).values_list("status", flat=True)
    assert sorted(swept) == ["ERROR"] * 3 + ["QUEUED"] * 3
    assert ledger_check(organization=org) == []

    # Settling everything still in flight brings the counter (and the money held) back to zero.
    for job in Job.objects.filter(organization=org, status__in=Job.IN_FLIGHT):
        with contextlib.suppress(Conflict):
            job_cancel(organization=org, job=job)
    wallet = Wallet.objects.get(organization=org)
    assert (wallet.in_flight, wallet.held) == (0, 0)
    completed = Job.objects.filter(organization=org, status=Job.Status.COMPLETED).count()
    assert wallet.balance == 10_000 - completed * PLAIN_PRICE
    assert ledger_check(organization=org) == []
