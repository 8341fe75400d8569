"""gunicorn's hooks for the web service; gunicorn reads ./gunicorn.conf.py by default, so every
command that starts it from the repository root (Makefile, Docker's /app, the benchmark) gets
them. The worker settings stay on those command lines.
"""

from __future__ import annotations

import gc


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
