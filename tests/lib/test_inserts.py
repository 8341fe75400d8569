"""lib.inserts: bulk_create's contract for new rows, with the statement built once."""

from __future__ import annotations

import uuid

import pytest
from django.db import IntegrityError, transaction

from billing.models import Plan
from jobs.models import Job, JobLog
from lib.inserts import inserts_new
from tests.accounts.factories import OrganizationFactory


@pytest.fixture
def plan(db):
    return Plan.objects.create(code="p-existing", name="Existing")


def test_it_inserts_new_rows_and_reads_back_their_auto_primary_keys(plan):
    rows = [Plan(code="p-one", name="One"), Plan(code="p-two", name="Two", max_jobs_in_flight=3)]
    inserts_new(rows)
    assert all(row.pk is not None and not row._state.adding for row in rows)
    assert Plan.objects.get(pk=rows[1].pk).max_jobs_in_flight == 3
    assert Plan.objects.get(pk=rows[0].pk).requests_per_minute == 120  # the field's default
    # The statement is reused for a second call of the same shape.
    inserts_new([Plan(code="p-three", name="Three")])
    assert Plan.objects.filter(code__startswith="p-").count() == 4


def test_a_duplicate_is_an_integrity_error_unless_conflicts_are_ignored(plan):
    with pytest.raises(IntegrityError), transaction.atomic():
        inserts_new([Plan(code="p-existing", name="Again")])


def test_ignored_conflicts_insert_the_rest(plan):
    inserts_new([Plan(code="p-existing", name="Again"), Plan(code="p-new", name="New")], ignore_conflicts=True)
    assert Plan.objects.get(code="p-existing").name == "Existing"
    assert Plan.objects.filter(code="p-new").exists()


def test_a_primary_key_default_and_auto_now_add_are_applied(db):
    organization = OrganizationFactory(name="Acme")
    job = Job(id=uuid.uuid4(), organization=organization, source="gateway", model="codeformer", price=0)
    inserts_new([job])
    log = JobLog(job=job, message="Request queued.")
    inserts_new([log])
    stored = JobLog.objects.get(pk=log.pk)
    assert stored.job_id == job.id and stored.created_at is not None and log.created_at == stored.created_at
    Job.objects.filter(id=job.id).delete()  # a job without a hold would fail the ledger check


def test_it_refuses_a_mix_of_rows_with_and_without_a_primary_key(plan):
    with pytest.raises(ValueError, match="all have, or all lack"):
        inserts_new([Plan(code="p-a", name="A"), Plan(id=999, code="p-b", name="B")])
