"""Run the maintenance sweeps once, in this process."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from jobs.retention import files_purge_expired
from jobs.services import job_sweep_stale
from jobs.webhooks import webhook_sweep


class Command(BaseCommand):
    help = "Re-queue or fail stale jobs, re-send lost webhook deliveries and purge expired files, once."

    def handle(self, *args, **options):
        counts = job_sweep_stale()
        resent = webhook_sweep()
        purged = files_purge_expired()
        self.stdout.write(
            f"jobs re-queued: {counts['requeued']}, errored: {counts['errored']}, re-sent: {counts['resent']}; "
            f"webhook deliveries re-sent: {resent}; jobs purged: {purged}"
        )
