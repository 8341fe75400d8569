"""Dramatiq actors: ids in, one service call, nothing else.

Delivery is at-least-once, so every service here is idempotent: a message for a job that is no
longer QUEUED, or a delivery that already succeeded, does nothing.
"""

from __future__ import annotations

import dramatiq
from django.conf import settings

from jobs.heartbeat import install_heartbeat

install_heartbeat()


@dramatiq.actor(
    queue_name="gpu",
    time_limit=settings.JOB_TIME_LIMIT_S * 1000,
    # No Dramatiq retries: a retried message would find the job PROCESSING and do nothing, and a
    # job that crashed its worker should not be hammered with exponential back-off either. The
    # stale-job sweep is the one place that decides to re-queue (counting attempts against
    # JOB_MAX_ATTEMPTS) or to fail the job and release its hold.
    max_retries=0,
    # On SIGTERM Dramatiq raises Shutdown in this thread; job_run stops the engine and hands
    # the job back to the queue instead of computing on until the process is killed.
    notify_shutdown=True,
)
def process_job(job_id: str) -> None:
    from jobs.services import job_run

    job_run(job_id=job_id)


@dramatiq.actor(queue_name="webhooks", time_limit=(settings.WEBHOOK_TIMEOUT_S + 30) * 1000, max_retries=0)
def deliver_webhook(delivery_id: str) -> None:
    # Retries are ours (WEBHOOK_RETRY_DELAYS_S, each attempt recorded), not Dramatiq's.
    from jobs.webhooks import webhook_deliver

    webhook_deliver(delivery_id=delivery_id)


@dramatiq.actor(queue_name="maintenance", time_limit=600_000, max_retries=0)
def sweep_stale_jobs() -> None:
    from jobs.heartbeat import heartbeat_prune
    from jobs.services import job_sweep_stale

    job_sweep_stale()
    heartbeat_prune()


@dramatiq.actor(queue_name="maintenance", time_limit=1_800_000, max_retries=0)
def purge_expired_files() -> None:
    from jobs.retention import files_purge_expired

    files_purge_expired()


@dramatiq.actor(queue_name="maintenance", time_limit=600_000, max_retries=0)
def sweep_webhooks() -> None:
    from jobs.webhooks import webhook_sweep

    webhook_sweep()
