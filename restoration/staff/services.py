"""Staff actions that combine other apps' services."""

from __future__ import annotations

import contextlib
import logging

from django.contrib.auth.models import AbstractBaseUser

from config.errors import Conflict
from jobs.models import Job
from jobs.retention import job_moderate
from jobs.services import job_cancel

logger = logging.getLogger(__name__)


def job_remove(*, job: Job, note: str, moderator: AbstractBaseUser) -> Job:
    """Take a job down: stop it if it is still running (its hold is released, not charged), then
    delete its files and mark it moderated so its output is never served again."""
    if job.status in Job.IN_FLIGHT:
        # If it finished meanwhile, removing its files is still what staff asked for.
        with contextlib.suppress(Conflict):
            job_cancel(organization=job.organization, job=job, reason="Removed by staff (moderation).")
    logger.info("job %s removed by staff user %s: %s", job.id, moderator.get_username(), note)
    return job_moderate(job=job, note=note.strip() or "Removed by staff.")
