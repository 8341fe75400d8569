"""What every log line says about the work it belongs to, and the JSON format for production.

Two ids travel with the work: ``http_request_id`` (one per HTTP request, ``lib.requestid``: a
valid ``X-Request-ID`` the proxy sent or a new one, echoed in the response; the audit trail
carries it too) and
``request_id`` (the API's own id of a job, ``codeformer-image-restoration_<uuid>``), which the
gateway returns to the client, the worker sets while it runs the job and the webhook sender
sets while it delivers the job's events. Searching the logs for one request id finds the API
call, the worker's run and each webhook attempt.

``LOG_FORMAT=json`` renders records with python-json-logger; the filter below adds the ids to
every record either way.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Iterator
from contextlib import contextmanager

from lib.requestid import current_request_id

_CONTEXT: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar("log_context", default=None)
FIELDS = ("http_request_id", "request_id")


def current() -> dict[str, str]:
    return dict(_CONTEXT.get() or {})


@contextmanager
def log_context(**values: str) -> Iterator[None]:
    """Add ids to every record logged inside the block (nested blocks add to the outer ones)."""
    token = _CONTEXT.set({**(_CONTEXT.get() or {}), **{k: str(v) for k, v in values.items() if v}})
    try:
        yield
    finally:
        _CONTEXT.reset(token)


def bind(**values: str) -> None:
    """Add ids for the rest of the current context (e.g. once a request has made its job)."""
    _CONTEXT.set({**(_CONTEXT.get() or {}), **{k: str(v) for k, v in values.items() if v}})


class ContextFilter(logging.Filter):
    """Puts the context's ids on the record (empty strings when unknown), for any formatter."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = {"http_request_id": current_request_id() or "", **(_CONTEXT.get() or {})}
        for name in FIELDS:
            if not hasattr(record, name):
                setattr(record, name, context.get(name, ""))
        return True


def logging_config(*, fmt: str, level: str) -> dict:
    """The LOGGING setting: ``fmt`` is ``json`` or ``plain``."""
    formatters = {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s %(http_request_id)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "context": {"()": "lib.logcontext.ContextFilter"},
            "redact": {"()": "lib.redact.RedactKeysFilter"},
        },
        "formatters": {"console": formatters[fmt]},
        "handlers": {
            "console": {"class": "logging.StreamHandler", "formatter": "console", "filters": ["context", "redact"]}
        },
        "root": {"handlers": ["console"], "level": level},
        # The dev server's request lines (``make run``) print the query string, where a key may
        # be: through the console handler, so the key is redacted, instead of Django's own.
        "loggers": {"django.server": {"handlers": ["console"], "level": "INFO", "propagate": False}},
    }
