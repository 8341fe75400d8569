"""Send the periodic maintenance actors (stale-job sweep, webhook sweep, retention purge)."""

from __future__ import annotations

import signal
import threading

from django.core.management.base import BaseCommand

from jobs.scheduler import default_schedule, run_schedule


class Command(BaseCommand):
    help = "Run the maintenance scheduler until interrupted."

    def handle(self, *args, **options):
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        plan = ", ".join(f"{name} every {period}s" for name, period in default_schedule())
        self.stdout.write(f"Scheduler running: {plan}.")
        run_schedule(stop)
        self.stdout.write("Scheduler stopped.")
