"""gunicorn's settings and hooks for the web service; gunicorn reads ./gunicorn.conf.py by
default, so every command that starts it from the repository root (Makefile, Docker's /app, the
Kubernetes web pod, the benchmark) gets them, and those command lines only bind (and choose the
access log). Options given on a command line win (the benchmark compares worker classes).
"""

from __future__ import annotations

import gc
import os

# Threads, not sync workers: a live status stream (up to LIVE_STREAM_MAX_S) or a Prefer: wait
# holds its worker for the whole wait, so a handful of them would stall sync workers for everyone.
worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY", "4"))
threads = int(os.environ.get("WEB_THREADS", "8"))
# Above the longest wait a request may ask for (/api/process waits up to DEMO_SYNC_TIMEOUT_S,
# 300 s by default), so gunicorn never kills a worker in the middle of an answer it owes.
timeout = int(os.environ.get("WEB_TIMEOUT_S", "330"))
# Access-log lines print the query string, where a subscription key may be: redacted there.
logger_class = "lib.gunicorn_log.RedactingLogger"


def post_worker_init(worker) -> None:
    """Load the URL configuration (every view, serializer and schema module), then move all
    that start-up left in memory out of the cyclic garbage collector's sight (``gc.freeze``).

    Those ~157,000 objects live as long as the worker, yet each full collection traversed them
    all: 0.17 ms of CPU per accepted submission, against 0.06 ms once frozen
    (``bench/api_load --profile``, 1,000 submissions).
    """
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 - imports the views now rather than on a first request
    gc.collect()
    gc.freeze()
