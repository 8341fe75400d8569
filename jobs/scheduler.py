"""The periodic loop that sends the maintenance actors.

Run standalone by ``manage.py run_scheduler`` (production) or on a thread by ``runservice``
(embedded). Running two schedulers at once is safe: each sweep is idempotent.
"""

from __future__ import annotations

import logging
import threading
import time

logger = logging.getLogger(__name__)


def default_schedule() -> list[tuple[str, int]]:
    """(actor name in jobs.actors, period in seconds). The stale-job sweep runs often: it is what
    finds the jobs of a dead worker (WORKER_DEAD_AFTER_S + one period, about a minute) and sends
    the jobs whose message could not be sent; each pass is a few indexed queries."""
    from django.conf import settings

    return [
        ("sweep_stale_jobs", settings.JOB_SWEEP_INTERVAL_S),
        ("sweep_webhooks", 300),
        ("purge_expired_files", 900),
    ]


def run_schedule(stop: threading.Event, *, schedule=None, tick_s: float = 1.0) -> None:
    """Send each maintenance actor once at start, then every period, until ``stop`` is set."""
    from jobs import actors

    schedule = schedule or default_schedule()
    due = dict.fromkeys((name for name, _ in schedule), 0.0)
    periods = dict(schedule)
    while not stop.is_set():
        now = time.monotonic()
        for name, at in due.items():
            if now >= at:
                try:
                    getattr(actors, name).send()
                except Exception:
                    logger.exception("could not send %s", name)
                due[name] = now + periods[name]
        stop.wait(tick_s)


def start_scheduler_thread() -> tuple[threading.Thread, threading.Event]:
    stop = threading.Event()
    thread = threading.Thread(target=run_schedule, args=(stop,), name="maintenance-scheduler", daemon=True)
    thread.start()
    return thread, stop
