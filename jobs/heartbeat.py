"""The gpu worker's heartbeat, read by the health endpoint (``jobs.selectors.worker_status``)
and by the stale-job sweep, which re-queues the jobs of a worker whose heartbeat stopped.

A Dramatiq middleware starts one thread per worker that consumes the ``gpu`` queue; it writes
``WorkerHeartbeat`` at boot and every ``WORKER_HEARTBEAT_S`` and deletes the row once a clean
shutdown has let the running jobs finish. The first beat builds the engine; its models are then
loaded (``warmup``) on a thread of their own, so that a slow warm-up never stops the beats.

Each worker thread knows its worker's id (``current_worker_id``), which the job claim records on
the job: that is how the sweep tells whose heartbeat to look at.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid

import dramatiq
from django.conf import settings
from django.db import close_old_connections, connection
from django.utils import timezone
from dramatiq.middleware import Middleware

logger = logging.getLogger(__name__)

GPU_QUEUE = "gpu"

_thread_state = threading.local()


def current_worker_id() -> str:
    """The id of the gpu worker whose thread this is ("" outside one, e.g. a test calling the
    service directly)."""
    return getattr(_thread_state, "worker_id", "")


def heartbeat_write(*, worker_id: str, engine_loaded: bool = True) -> None:
    from jobs.engine import get_engine, loaded_engine
    from jobs.models import WorkerHeartbeat

    device, models = "unavailable", []
    try:
        engine = get_engine() if engine_loaded else loaded_engine()
    except Exception:
        logger.exception("the restoration engine could not be built")
        engine = None
    if engine is not None:
        device = str(getattr(engine, "device", "unknown"))
        models = list(getattr(engine, "enabled_models", None) or settings.ENABLED_MODELS)
    WorkerHeartbeat.objects.update_or_create(
        worker_id=worker_id,
        defaults={
            "hostname": socket.gethostname()[:200],
            "device": device[:20],
            "models_loaded": models,
            "seen_at": timezone.now(),
        },
    )


def heartbeat_prune(*, older_than=None) -> int:
    """Delete heartbeats of workers gone for a day (killed without a clean shutdown)."""
    from datetime import timedelta

    from jobs.models import WorkerHeartbeat

    cutoff = timezone.now() - (older_than or timedelta(days=1))
    deleted, _ = WorkerHeartbeat.objects.filter(seen_at__lt=cutoff).delete()
    return deleted


class _Beat(threading.Thread):
    def __init__(self, worker_id: str):
        super().__init__(name=f"heartbeat-{worker_id}", daemon=True)
        self.worker_id = worker_id
        self.stopped = threading.Event()

    def run(self) -> None:
        warmed = False
        while True:
            try:
                close_old_connections()
                heartbeat_write(worker_id=self.worker_id)
            except Exception:
                logger.exception("heartbeat write failed")
            finally:
                connection.close()
            if not warmed:
                warmed = True
                threading.Thread(target=_warm_up, name=f"warm-up-{self.worker_id}", daemon=True).start()
            if self.stopped.wait(settings.WORKER_HEARTBEAT_S):
                return


def _warm_up() -> None:
    """Load the models now (after the first beat, so the worker shows as alive meanwhile) rather
    than on the first job. A failure here is logged; the job that needs the model reports it."""
    from jobs.engine import loaded_engine
    from ml.errors import WeightsError

    engine = loaded_engine()
    warmup = getattr(engine, "warmup", None)
    if callable(warmup):
        try:
            warmup()
        except WeightsError as exc:
            # Expected on a machine that could not fetch the weights (make run said so already):
            # one plain line, not a traceback.
            logger.warning("models not loaded: %s", exc)
        except Exception:
            logger.exception("warming up the restoration engine failed")


class HeartbeatMiddleware(Middleware):
    """Beats for every worker that consumes the gpu queue (all queues when none are named), and
    tells each of its threads the worker's id."""

    def __init__(self) -> None:
        self.beats: dict[int, _Beat] = {}
        # Worker threads only know their worker's work queue; the id is found through it.
        self.ids_by_work_queue: dict[int, str] = {}

    def before_worker_boot(self, broker, worker) -> None:
        # Before the worker's threads start, so that no job is claimed without the id.
        queues = getattr(worker, "consumer_whitelist", None)
        if queues and GPU_QUEUE not in queues:
            return
        worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.ids_by_work_queue[id(worker.work_queue)] = worker_id

    def after_worker_thread_boot(self, broker, thread) -> None:
        _thread_state.worker_id = self.ids_by_work_queue.get(id(getattr(thread, "work_queue", None)), "")

    def after_worker_boot(self, broker, worker) -> None:
        worker_id = self.ids_by_work_queue.get(id(worker.work_queue))
        if worker_id is None:
            return
        beat = _Beat(worker_id)
        self.beats[id(worker)] = beat
        beat.start()

    def after_worker_shutdown(self, broker, worker) -> None:
        # After, not before: the beats go on while a graceful shutdown lets running jobs finish,
        # so the sweep never takes a job from a worker that is still working on it.
        self.ids_by_work_queue.pop(id(worker.work_queue), None)
        beat = self.beats.pop(id(worker), None)
        if beat is None:
            return
        beat.stopped.set()
        beat.join(timeout=10)
        try:
            from jobs.models import WorkerHeartbeat

            WorkerHeartbeat.objects.filter(worker_id=beat.worker_id).delete()
        except Exception:
            logger.exception("could not remove the heartbeat of %s", beat.worker_id)
        finally:
            connection.close()


def install_heartbeat(broker: dramatiq.Broker | None = None) -> None:
    """Add the middleware to the broker once (settings name the broker's other middleware)."""
    broker = broker or dramatiq.get_broker()
    if not any(isinstance(m, HeartbeatMiddleware) for m in broker.middleware):
        broker.add_middleware(HeartbeatMiddleware())
