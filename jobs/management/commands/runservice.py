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
        served = served_origin(addrport)
        if served and not settings.PUBLIC_BASE_URL:
            # Links in mail and webhooks sent without a request (a low-balance notice, an owner's
            # notice) point at this server rather than at the default localhost:8000.
            settings.SERVED_BASE_URL = served
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


def served_origin(addrport: str) -> str:
    """The origin a browser on this machine reaches ``addrport`` at ("" for a wildcard address,
    whose public name this process cannot know)."""
    host, _, port = addrport.rpartition(":")
    if not port.isdigit():
        host, port = addrport, "8000"
    host = host.strip("[]") or "127.0.0.1"
    if host in ("0.0.0.0", "::"):  # noqa: S104 - recognising a wildcard, not binding to one
        return ""
    return f"http://{'[' + host + ']' if ':' in host else host}:{port}"


def _interrupt(signum, frame):
    raise KeyboardInterrupt
