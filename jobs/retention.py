"""Deleting job files: after the retention period, and when staff remove a job.

Files are deleted first and the job marked afterwards, so a crash in between only means the next
purge deletes nothing and marks the job.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from billing.models import Plan
from jobs.media import delete_stored
from jobs.models import Job, JobLog
from lib.audit import audit_event

logger = logging.getLogger(__name__)


def job_files_delete(*, job: Job, message: str, now=None) -> bool:
    """Delete the job's input and output files and record when. False if already done."""
    now = now or timezone.now()
    for name in (job.input_file.name, job.output_file.name):
        delete_stored(name)
    with transaction.atomic():
        changed = Job.objects.filter(id=job.id, files_purged_at__isnull=True).update(
            files_purged_at=now, updated_at=now
        )
        if changed:
            JobLog.objects.create(job=job, message=message[:500])
    job.refresh_from_db()
    return bool(changed)


def retention_hours(plan) -> int:
    return (plan.file_retention_hours if plan is not None else 0) or settings.RESULT_RETENTION_HOURS


def files_purge_expired(*, now=None) -> int:
    """Delete the files of every finished job older than its organization's plan keeps them
    (``Plan.file_retention_hours``; ``RESULT_RETENTION_HOURS`` for a plan that says 0), except
    those moderation holds: a job with an open queue item (kept until it is actioned) or one
    whose item staff marked as evidence to preserve. Each purge is recorded in the audit trail
    with the names of the files it deleted."""
    now = now or timezone.now()
    purged = 0
    for plan in Plan.objects.all():
        hours = retention_hours(plan)
        expired = (
            Job.objects.filter(
                organization__plan=plan,
                status__in=Job.TERMINAL,
                completed_at__lt=now - timedelta(hours=hours),
                files_purged_at__isnull=True,
            )
            .exclude(moderation_items__status="open")
            .exclude(moderation_items__preserve_evidence=True)
        )
        for job in expired.iterator(chunk_size=200):
            try:
                files = [name for name in (job.input_file.name, job.output_file.name) if name]
                deleted = job_files_delete(
                    job=job, message=f"Input and output files deleted after the {hours}-hour retention period.", now=now
                )
                if deleted:
                    audit_event(job, "retention_purge", files=files, organization_id=str(job.organization_id))
                purged += deleted
            except Exception:
                logger.exception("could not purge the files of job %s", job.id)
    return purged


def job_moderate(*, job: Job, note: str = "", now=None) -> Job:
    """Staff removal: the files are deleted and the output is never served again."""
    now = now or timezone.now()
    Job.objects.filter(id=job.id, moderated_at__isnull=True).update(
        moderated_at=now, moderation_note=note[:300], updated_at=now
    )
    job_files_delete(job=job, message="Files removed by moderation.", now=now)
    job.refresh_from_db()
    return job
