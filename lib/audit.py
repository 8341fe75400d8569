"""Explicit entries in the audit trail (django-auditlog), for changes its model signals cannot see.

auditlog records ``save()`` and ``delete()`` of registered models by itself (see
``moderation.audit``). A conditional ``QuerySet.update()`` (the way this project changes state
that races: suspending an organization, revoking keys) sends no signal, so the service that does
one records it here, in the same ``LogEntry`` table, through auditlog's own manager.
"""

from __future__ import annotations

from typing import Any

from auditlog.models import LogEntry


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def audit_update(instance, changes: dict[str, tuple[Any, Any]], *, actor=None, **additional: Any) -> LogEntry | None:
    """One UPDATE entry for ``instance`` with ``{field: (before, after)}``; nothing when nothing changed."""
    changed = {field: [_text(old), _text(new)] for field, (old, new) in changes.items() if old != new}
    if not changed:
        return None
    return _log(instance, LogEntry.Action.UPDATE, changes=changed, actor=actor, additional=additional)


def audit_event(instance, event: str, *, actor=None, **additional: Any) -> LogEntry:
    """An ACCESS entry naming an ``event`` (a staff console sign-in, a retention purge)."""
    return _log(instance, LogEntry.Action.ACCESS, changes=None, actor=actor, additional={"event": event, **additional})


def _log(instance, action: int, *, changes, actor, additional: dict) -> LogEntry:
    base = {}
    get_additional_data = getattr(instance, "get_additional_data", None)
    if callable(get_additional_data):
        base = get_additional_data() or {}
    kwargs: dict[str, Any] = {
        "action": action,
        "changes": changes,
        "changes_text": "",
        "additional_data": {**base, **additional},
    }
    if actor is not None and getattr(actor, "is_authenticated", False):
        kwargs["actor"] = actor
    return LogEntry.objects.log_create(instance, force_log=True, **kwargs)
