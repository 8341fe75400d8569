"""Prometheus metrics of the fleet (prometheus-client).

Two kinds, because web and workers are separate processes:

- Events, counted where they happen (a worker process): jobs finished by status, the time of
  each pipeline stage, faces restored (``rate()`` of it is faces per second), webhook attempts
  by outcome, and the GPU memory in use. A worker serves them on ``WORKER_METRICS_PORT``
  (``WorkerMetricsMiddleware``; one port per worker process, so GPU workers run one process).
- State, read at scrape time from what every process shares (``StateCollector`` on the web's
  ``/metrics``): queue depth per queue (the Redis lists Dramatiq and KEDA read), jobs queued and
  processing, holds outstanding (count and minor units), workers alive. Any web replica answers
  the same figures, so scraping one behind the service is enough.
"""

from __future__ import annotations

import logging
import threading

from dramatiq.middleware import Middleware
from prometheus_client import REGISTRY, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

JOBS_FINISHED = Counter("codeformer_jobs_finished", "Jobs that reached a final status", ["status"])
STAGE_SECONDS = Histogram(
    "codeformer_job_stage_seconds",
    "Time of one pipeline stage of one job",
    ["stage"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
)
FACES_RESTORED = Counter("codeformer_faces_restored", "Faces restored by completed jobs")
WEBHOOK_ATTEMPTS = Counter("codeformer_webhook_attempts", "Webhook delivery attempts", ["outcome"])
GPU_MEMORY = Gauge("codeformer_gpu_memory_bytes", "CUDA memory of this worker process", ["kind"])


def record_job_finished(*, status: str, timings: dict | None = None, faces: int = 0) -> None:
    """Called once per job that reached a final status in this process."""
    JOBS_FINISHED.labels(status=status).inc()
    for stage, seconds in (timings or {}).items():
        try:
            STAGE_SECONDS.labels(stage=str(stage)).observe(float(seconds))
        except (TypeError, ValueError):
            continue
    if faces:
        FACES_RESTORED.inc(faces)
    _sample_gpu_memory()


def record_webhook_attempt(*, outcome: str) -> None:
    """``outcome``: succeeded, failed (will retry) or gave_up."""
    WEBHOOK_ATTEMPTS.labels(outcome=outcome).inc()


def _sample_gpu_memory() -> None:
    import sys

    torch = sys.modules.get("torch")  # never import torch for this: the web image has none
    if torch is None or not torch.cuda.is_available():
        return
    GPU_MEMORY.labels(kind="allocated").set(torch.cuda.memory_allocated())
    GPU_MEMORY.labels(kind="reserved").set(torch.cuda.memory_reserved())


def queue_key(queue_name: str, broker=None) -> str:
    """The Redis list a Dramatiq queue's waiting messages are in (what KEDA's redis trigger
    measures with LLEN): ``<namespace>:<queue>``, as dramatiq's dispatch script names it."""
    import dramatiq

    broker = broker or dramatiq.get_broker()
    return f"{getattr(broker, 'namespace', 'dramatiq')}:{queue_name}"


def queue_depths(broker=None) -> dict[str, int]:
    """Messages waiting per queue (not yet taken by a worker), from the broker itself (the
    in-memory broker of the embedded mode counts its own queues)."""
    import dramatiq

    broker = broker or dramatiq.get_broker()
    client = getattr(broker, "client", None)
    if client is None:
        return {name: broker.queues[name].qsize() for name in broker.get_declared_queues() if name in broker.queues}
    names = sorted(name for name in broker.get_declared_queues() if not name.endswith(".DQ"))
    pipe = client.pipeline(transaction=False)
    for name in names:
        pipe.llen(queue_key(name, broker))
    return dict(zip(names, pipe.execute(), strict=True))


class StateCollector(Collector):
    """Figures read from the database and the broker at scrape time."""

    def collect(self):
        from django.db.models import Count, Sum

        from billing.models import Wallet
        from jobs.models import Job
        from jobs.selectors import worker_status

        depth = GaugeMetricFamily("codeformer_queue_depth", "Messages waiting in a queue", labels=["queue"])
        try:
            for name, count in queue_depths().items():
                depth.add_metric([name], count)
        except Exception:
            logger.warning("queue depth unavailable for /metrics", exc_info=True)
        yield depth
        in_flight = GaugeMetricFamily("codeformer_jobs_in_flight", "Jobs queued or processing", labels=["status"])
        counts = dict(
            Job.objects.filter(status__in=Job.IN_FLIGHT)
            .values_list("status")
            .annotate(n=Count("id"))
            .values_list("status", "n")
        )
        for status in sorted(Job.IN_FLIGHT):
            in_flight.add_metric([status], counts.get(status, 0))
        yield in_flight
        held = Wallet.objects.aggregate(total=Sum("held"))["total"] or 0
        yield GaugeMetricFamily("codeformer_holds_outstanding_minor", "Money held for jobs in flight", value=held)
        yield GaugeMetricFamily("codeformer_holds_outstanding", "Jobs holding money", value=sum(counts.values()))
        yield GaugeMetricFamily(
            "codeformer_workers_alive", "A gpu worker's heartbeat is fresh", value=int(worker_status()["alive"])
        )


_installed: set[int] = set()
_install_lock = threading.Lock()


def install_state_collector(registry=REGISTRY) -> None:
    """Register the state collector once per registry (the web's /metrics does, on first scrape)."""
    with _install_lock:
        if id(registry) not in _installed:
            registry.register(StateCollector())
            _installed.add(id(registry))


class WorkerMetricsMiddleware(Middleware):
    """Serve this worker process's event metrics on ``WORKER_METRICS_PORT`` (0: off)."""

    def after_worker_boot(self, broker, worker) -> None:
        from django.conf import settings

        port = settings.WORKER_METRICS_PORT
        if not port:
            return
        try:
            start_http_server(port)
        except OSError:
            # A second worker process on the same host: only one can serve the port.
            logger.warning("worker metrics port %s is taken; this process's metrics are not served", port)
