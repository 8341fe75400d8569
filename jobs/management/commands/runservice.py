"""Run the whole service in one process: the dev web server plus, when EMBEDDED_WORKER is on,
an in-process Dramatiq worker and the maintenance scheduler."""

from __future__ import annotations

import signal

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Run the web server, and the in-process worker and scheduler when EMBEDDED_WORKER is set."

    def add_arguments(self, parser):
        parser.add_argument(
            "addrport", nargs="?", default="127.0.0.1:8000", help="Optional address:port (default 127.0.0.1:8000)."
        )

    def handle(self, *args, addrport: str, **options):
        # SIGTERM (docker stop, a process manager) shuts down like Ctrl-C, so the worker stops cleanly.
        signal.signal(signal.SIGTERM, _interrupt)
        embedded = None
        if settings.EMBEDDED_WORKER:
            from jobs.embedded import start_embedded_workers

            embedded = start_embedded_workers()
            self.stdout.write("In-process worker started for queues gpu, webhooks, maintenance, billing.")
        try:
            # No autoreloader: it would fork a child that starts a second worker.
            call_command("runserver", addrport, use_reloader=False)
        finally:
            if embedded is not None:
                embedded.stop()


def _interrupt(signum, frame):
    raise KeyboardInterrupt
