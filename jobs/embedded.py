"""The in-process worker of the embedded mode (``manage.py runservice`` with EMBEDDED_WORKER).

Two Dramatiq workers share the configured broker (a StubBroker on the SQLite default): one
thread for the gpu queue, so jobs run one at a time as on a real gpu worker, and two for the
webhooks, maintenance and billing queues, so deliveries and sweeps never wait behind a long restoration.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

import dramatiq
from dramatiq.middleware import TimeLimit

logger = logging.getLogger(__name__)


@dataclass
class EmbeddedWorkers:
    workers: list[dramatiq.Worker]
    scheduler_stop: threading.Event

    def stop(self) -> None:
        self.scheduler_stop.set()
        for worker in self.workers:
            worker.stop(timeout=10_000)


def ensure_time_limits(broker: dramatiq.Broker) -> None:
    """Start the TimeLimit middleware's watchdog thread. The dramatiq CLI does this on
    "process_boot", which an in-process Worker never emits, so without it no actor would ever be
    interrupted at its time limit."""
    for middleware in broker.middleware:
        manager = getattr(middleware, "manager", None)
        if isinstance(middleware, TimeLimit) and isinstance(manager, threading.Thread) and not manager.is_alive():
            manager.start()


def start_embedded_workers() -> EmbeddedWorkers:
    import billing.actors  # noqa: F401 - declares the billing queue (alerts, auto-recharge, billing events)
    from jobs import actors
    from jobs.models import Job
    from jobs.scheduler import start_scheduler_thread

    broker = dramatiq.get_broker()
    ensure_time_limits(broker)
    workers = [
        dramatiq.Worker(broker, queues={"gpu"}, worker_threads=1),
        dramatiq.Worker(broker, queues={"webhooks", "maintenance", "billing"}, worker_threads=2),
    ]
    for worker in workers:
        worker.start()
    # An in-memory broker forgets its messages when the process exits: send QUEUED jobs again
    # (a job that was already delivered ignores the duplicate).
    for job_id in Job.objects.filter(status=Job.Status.QUEUED).values_list("id", flat=True):
        actors.process_job.send(str(job_id))
    _, stop = start_scheduler_thread()
    logger.info("embedded worker started (queues gpu, webhooks, maintenance, billing) on %s", type(broker).__name__)
    return EmbeddedWorkers(workers=workers, scheduler_stop=stop)
