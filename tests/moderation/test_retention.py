"""Retention and evidence: files follow the plan's retention clock, an item under review keeps
its job's files until it is actioned, preserved evidence is never purged, and the purge records
what it deleted."""

from __future__ import annotations

from datetime import timedelta

import pytest
from auditlog.models import LogEntry
from django.core.files.storage import default_storage

from jobs.models import Job
from jobs.retention import files_purge_expired, retention_hours
from moderation import services
from tests.moderation.conftest import completed_job

pytestmark = pytest.mark.django_db


def later(job: Job):
    """A moment past the job's retention period (its organization's plan)."""
    return job.completed_at + timedelta(hours=retention_hours(job.organization.plan) + 1)


def files_of(job: Job) -> list[str]:
    job.refresh_from_db()
    return [name for name in (job.input_file.name, job.output_file.name) if name]


def test_an_item_under_review_keeps_its_files_until_it_is_actioned(admin_user, acme, photo):
    job = completed_job(acme.org, photo)
    names = files_of(job)
    item = services.job_flag(job=job, actor=admin_user, reason="Reported")

    assert files_purge_expired(now=later(job)) == 0
    assert all(default_storage.exists(n) for n in names)

    services.item_dismiss(item=item, actor=admin_user, reason="Fine")
    assert files_purge_expired(now=later(job)) == 1
    assert not any(default_storage.exists(n) for n in names)


def test_preserved_evidence_is_never_purged_even_after_the_item_is_closed(admin_user, acme, photo):
    job = completed_job(acme.org, photo)
    item = services.job_flag(job=job, actor=admin_user, reason="Police request")
    services.item_preserve(item=item, actor=admin_user, reason="Case 2026-114")
    services.item_hide(item=item, actor=admin_user, reason="Take it down, keep it")
    names = files_of(job)

    assert files_purge_expired(now=later(job) + timedelta(days=365)) == 0
    assert all(default_storage.exists(n) for n in names)

    services.item_preserve(item=item, actor=admin_user, reason="Case closed", preserve=False)
    assert files_purge_expired(now=later(job) + timedelta(days=365)) == 1
    assert not any(default_storage.exists(n) for n in names)


def test_an_unmoderated_job_follows_the_plan_clock_and_the_purge_records_what_it_deleted(acme, photo):
    job = completed_job(acme.org, photo)
    names = files_of(job)
    assert files_purge_expired(now=job.completed_at + timedelta(minutes=5)) == 0

    assert files_purge_expired(now=later(job)) == 1

    entry = LogEntry.objects.get(additional_data__event="retention_purge", object_pk=str(job.id))
    assert sorted(entry.additional_data["files"]) == sorted(names)
    assert entry.additional_data["organization_id"] == str(acme.org.id)
    assert not any(default_storage.exists(n) for n in names)


def test_a_refused_upload_item_holds_nothing_back(admin_user, acme, photo):
    # Other jobs of the organization still follow the clock while a blocklist item is open.
    from lib.pdq import pdq_of_bytes
    from moderation.errors import ImageRefused
    from moderation.models import BlockedHash, ModerationItem
    from tests.moderation.conftest import reencoded

    job = completed_job(acme.org, photo)
    BlockedHash.objects.create(pdq_hash=pdq_of_bytes(photo).hex, reason="bad")
    with pytest.raises(ImageRefused):
        completed_job(acme.org, reencoded(photo))
    assert ModerationItem.objects.filter(status=ModerationItem.Status.OPEN, job__isnull=True).count() == 1
    assert files_purge_expired(now=later(job) + timedelta(hours=1)) == 1
