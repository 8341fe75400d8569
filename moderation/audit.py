"""The audit trail: which models django-auditlog watches, and the reads staff and owners make.

auditlog writes one ``LogEntry`` per create/update/delete of a registered model, with the actor
(``AuditlogMiddleware`` takes it from the request), the time, the object, the before/after of every
changed field, the client address and a correlation id, which ``settings.AUDITLOG_CID_GETTER``
points at our request id (``lib.requestid``). Entries carry ``additional_data.organization_id``
(the models' ``get_additional_data``), which is how an organization's owners see their part.

Ledger rows are registered too, but the job lifecycle's own movements (holds, captures, releases)
are left out by a ``pre_log`` receiver: they are fully described by the ledger and the job, and one
extra write per hold would sit inside the wallet lock. Top-ups and adjustments (refunds included)
are recorded.
"""

from __future__ import annotations

from datetime import timedelta

from auditlog.models import LogEntry
from auditlog.registry import auditlog
from auditlog.signals import pre_log
from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.db.models import Q, QuerySet
from django.utils import timezone

from billing.account import CONTROL_FIELDS, DETAIL_FIELDS, RECHARGE_FIELDS
from billing.money import format_money
from lib.audit import audit_event

STAFF_CONSOLE_SIGN_IN = "staff_console_sign_in"
MEDIA_VIEWED = "media_viewed"
# What owners set on the wallet page: the fields billing.account's writes save.
BILLING_SETTINGS = [*DETAIL_FIELDS, *CONTROL_FIELDS, *RECHARGE_FIELDS]
BLOCKLIST_IMPORT = "blocklist_import"
# Explicit events (lib.audit.audit_event) in words, for the trail's badge.
EVENT_LABELS = {
    STAFF_CONSOLE_SIGN_IN: "staff console sign-in",
    MEDIA_VIEWED: "looked at a picture",
    BLOCKLIST_IMPORT: "blocklist import",
    "blocklist_remove": "removed from the blocklist",
    "webhook_secret_revealed": "webhook signing secret shown",
    "retention_purge": "files deleted after retention",
}
LIFECYCLE_LEDGER_KINDS = frozenset({"hold", "capture", "release"})
SECRET_MASK = "(secret)"  # noqa: S105 - the placeholder shown instead of a secret


def mask_secret(value) -> str:
    """auditlog's default mask keeps half the value; a signing secret must not leak at all."""
    return SECRET_MASK if value else ""


def register_models() -> None:
    mask_all = "moderation.audit.mask_secret"
    targets = [
        (
            "accounts.Organization",
            {"mask_fields": ["webhook_secret", "previous_webhook_secret"], "mask_callable": mask_all},
        ),
        ("accounts.Membership", {}),
        ("accounts.Subscription", {}),
        ("accounts.ApiKey", {"exclude_fields": ["digest", "last_used_at"]}),
        ("billing.LedgerEntry", {}),
        # What owners set on the wallet page (limits, alerts, auto-recharge, invoice details); not
        # the flags and Stripe ids the service moves by itself.
        ("billing.BillingAccount", {"include_fields": BILLING_SETTINGS}),
        ("billing.Plan", {}),
        ("billing.PriceItem", {}),
        ("billing.PlanPrice", {}),
        ("billing.KeySpendLimit", {}),
        ("jobs.WebhookEndpoint", {"exclude_fields": ["updated_at"]}),
        ("moderation.StaffMember", {}),
        # pdq_bits: the database's copy of pdq_hash as bits (generated), not a change of its own.
        ("moderation.BlockedHash", {"exclude_fields": ["pdq_bits"]}),
        ("moderation.ModerationItem", {"exclude_fields": ["updated_at"]}),
        ("moderation.ModerationAction", {}),
    ]
    for label, options in targets:
        model = apps.get_model(label)
        if model not in auditlog._registry:
            auditlog.register(model, **options)
    user_model = get_user_model()
    if user_model not in auditlog._registry:
        auditlog.register(user_model, include_fields=["is_staff", "is_superuser", "is_active", "username", "email"])
    pre_log.connect(_skip_lifecycle_ledger_rows, dispatch_uid="moderation.audit.skip_lifecycle_ledger_rows")


def _skip_lifecycle_ledger_rows(sender, instance, action, **kwargs):
    if sender._meta.label == "billing.LedgerEntry" and instance.kind in LIFECYCLE_LEDGER_KINDS:
        return False
    return None


def staff_console_sign_in_record(*, user) -> LogEntry:
    return audit_event(user, STAFF_CONSOLE_SIGN_IN, actor=user)


def media_view_record(*, actor, item, kind: str) -> LogEntry | None:
    """Staff looked at a customer's picture (the input or output of a moderation item's job).
    Once per person, item and picture an hour: the item page shows both, and browsers fetch an
    image again, which would bury the trail in copies of one look."""
    since = timezone.now() - timedelta(hours=1)
    seen = LogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(item),
        object_pk=str(item.pk),
        actor=actor,
        timestamp__gte=since,
        additional_data__event=MEDIA_VIEWED,
        additional_data__picture=kind,
    ).exists()
    if seen:
        return None
    return audit_event(item, MEDIA_VIEWED, actor=actor, picture=kind, job_id=str(item.job_id))


# --- Reads ------------------------------------------------------------------------------------

AUDIT_TYPES = {
    "organization": ("accounts", "organization"),
    "membership": ("accounts", "membership"),
    "subscription": ("accounts", "subscription"),
    "api_key": ("accounts", "apikey"),
    "ledger": ("billing", "ledgerentry"),
    "billing_settings": ("billing", "billingaccount"),
    "plan": ("billing", "plan"),
    "price": ("billing", "priceitem"),
    "staff_role": ("moderation", "staffmember"),
    "blocklist": ("moderation", "blockedhash"),
    "moderation_item": ("moderation", "moderationitem"),
    "moderation_action": ("moderation", "moderationaction"),
    "user": ("auth", "user"),
    "job": ("jobs", "job"),
    "webhook_endpoint": ("jobs", "webhookendpoint"),
}


def _content_type(kind: str) -> ContentType | None:
    if kind not in AUDIT_TYPES:
        return None
    app_label, model = AUDIT_TYPES[kind]
    return ContentType.objects.filter(app_label=app_label, model=model).first()


def audit_entries(*, organization_id: str | None = None, actor_id: int | None = None, kind: str = "") -> QuerySet:
    """Staff's view of the trail, newest first, narrowed by organization, actor and type."""
    entries = LogEntry.objects.select_related("actor", "content_type").order_by("-timestamp", "-id")
    if organization_id:
        entries = entries.filter(additional_data__organization_id=str(organization_id))
    if actor_id:
        entries = entries.filter(actor_id=actor_id)
    if kind == "sign_in":
        entries = entries.filter(additional_data__event=STAFF_CONSOLE_SIGN_IN)
    elif kind == "media_view":
        entries = entries.filter(additional_data__event=MEDIA_VIEWED)
    elif kind:
        content_type = _content_type(kind)
        entries = entries.filter(content_type=content_type) if content_type else entries.none()
    return entries


# Trust and safety's own bookkeeping, which changes nothing the customer has: flagging, evidence
# kept or released, dismissing, the blocklist. An owner's trail shows the actions that did.
_INTERNAL_ACTIONS = ("flag", "preserve", "unpreserve", "dismiss", "block_hash", "unblock_hash")


def audit_entries_for_organization(organization) -> QuerySet:
    """The part of the trail about one organization, for its owners."""
    internal = Q(content_type__app_label="moderation", content_type__model="moderationaction") & Q(
        changes__kind__1__in=_INTERNAL_ACTIONS
    )
    return (
        LogEntry.objects.select_related("actor", "content_type")
        .filter(additional_data__organization_id=str(organization.id))
        .filter(~Q(content_type__app_label="moderation", content_type__model="moderationitem"))
        .exclude(internal)
        .order_by("-timestamp", "-id")
    )


# Staff-internal fields an owner never reads in their part of the trail.
_HIDDEN_FROM_OWNERS = {"reason", "actor", "actor_username", "resolved_by", "item"}


# Integer minor units in the ledger's rows and the billing settings, shown as money in the trail.
_MONEY_FIELDS = {
    "billing.ledgerentry": {"amount", "held_change", "balance_after", "held_after"},
    "billing.billingaccount": {
        "monthly_spend_limit",
        "low_balance_threshold",
        "auto_recharge_threshold",
        "auto_recharge_amount",
        "auto_recharge_monthly_cap",
    },
}


def _own_fields_only(entry, changes: dict) -> dict:
    """auditlog records a created row's reverse relations too (``payments: None ->
    billing.Payment.None``) and every empty column (``None -> None``); neither says anything, so
    only the row's own columns that hold something are shown, money as money."""
    model = entry.content_type.model_class()
    if model is None:
        return changes
    own = {f.name for f in model._meta.concrete_fields} | {f.attname for f in model._meta.concrete_fields}
    own |= {f.name for f in model._meta.many_to_many}
    money = _MONEY_FIELDS.get(model._meta.label_lower, set())
    shown = {}
    for field, change in changes.items():
        # An empty column, or a created row's unset flag (None -> False), says nothing.
        before, after = [*change[:2], "None", "None"][:2]
        if field not in own or field == "id" or (_no_value(before) and (_no_value(after) or after == "False")):
            continue
        if field in money:
            change = [_as_money(value) for value in change[:2]]
        shown[field] = change
    return shown


def _as_money(value):
    try:
        return format_money(int(value))
    except (TypeError, ValueError):
        return value


# Bookkeeping an owner learns nothing from: the entry has its own time, these keys are ours, and
# the whole of their trail is about their organization.
_BOOKKEEPING = {"created_at", "updated_at", "idempotency_key", "organization", "organization_id"}


def _owner_changes(entry, changes: dict) -> list[tuple[str, type | None, list]]:
    """An owner's view of one entry's changes, as ``(label, related model or None, [before,
    after])``: labels instead of column names ("held change"), no bookkeeping columns. A related
    row's values are still its ids here; ``audit_rows`` names them, one query per model a page."""
    model = entry.content_type.model_class()
    if model is None:
        return [(name, None, list(change[:2])) for name, change in changes.items()]
    fields = {f.name: f for f in model._meta.concrete_fields} | {f.attname: f for f in model._meta.concrete_fields}
    shown = []
    for name, change in changes.items():
        field = fields.get(name)
        if field is None or name in _BOOKKEEPING or name in _HIDDEN_FROM_OWNERS:
            continue
        shown.append((str(field.verbose_name), field.related_model if field.is_relation else None, list(change[:2])))
    return shown


def _owner_value(value):
    """A value as an owner reads it: yes/no for a flag; a rotated secret as new."""
    return {"True": "yes", "False": "no"}.get(value, value) if isinstance(value, str) else value


def _owner_values(values: list) -> list:
    if len(values) == 2 and values[0] == values[1] == SECRET_MASK:
        return [SECRET_MASK, "(new secret)"]  # rotated: auditlog masks both sides alike
    return [_owner_value(value) for value in values]


def _no_value(value) -> bool:
    # "None" is auditlog's text for no value (every field of a created row starts there).
    return value in (None, "None", "")


def _names_of(wanted: dict[type, set[str]]) -> dict[tuple[type, str], str]:
    """What each wanted related row is called ("Acme Photos wallet", a person by name or
    e-mail), keyed by (model, id as text): one query per model."""
    from accounts.display import user_display

    user_model = get_user_model()
    names = {}
    for model, pks in wanted.items():
        for pk, row in model._default_manager.in_bulk(list(pks)).items():
            names[(model, str(pk))] = user_display(row) if model is user_model else str(row)
    return names


def audit_rows(entries, *, for_owner: bool = False) -> list:
    """Entries ready to show: ``visible_changes`` is the before/after to display."""
    rows = list(entries)
    owner_views = {}
    wanted: dict[type, set[str]] = {}
    for entry in rows:
        changes = _own_fields_only(entry, entry.changes_dict or {})
        entry.display_repr = entry.object_repr
        event = (entry.additional_data or {}).get("event", "")
        entry.event_label = EVENT_LABELS.get(event, event.replace("_", " "))
        entry.visible_changes = changes
        if for_owner:
            owner_views[entry.pk] = _owner_changes(entry, changes)
            for _label, related, values in owner_views[entry.pk]:
                if related is not None:
                    wanted.setdefault(related, set()).update(str(v) for v in values if not _no_value(v))
            if entry.content_type.model == "moderationaction":
                # Its text names the staff member ("Hidden by ..."); customers read what was done,
                # in words ("Key revoked", not suspend_key).
                entry.display_repr = "Trust and safety action"
                owner_views[entry.pk] = [
                    (label, related, [_action_label(v) for v in values] if label == "kind" else values)
                    for label, related, values in owner_views[entry.pk]
                ]
    if for_owner:
        names = _names_of(wanted)

        def shown(related, value):
            if _no_value(value):
                return ""
            return names.get((related, str(value)), "(deleted)") if related is not None else value

        for entry in rows:
            entry.visible_changes = {
                label: _owner_values([shown(related, value) for value in values])
                for label, related, values in owner_views[entry.pk]
            }
    else:
        _name_related_rows_for_staff(rows)
        for entry in rows:
            action = entry.content_type.model == "moderationaction"
            entry.visible_changes = {
                field: [
                    "" if _no_value(value) else (_action_label(value) if action and field == "kind" else value)
                    for value in values[:2]
                ]
                for field, values in entry.visible_changes.items()
            }
    return rows


def _related_fields(entry) -> dict[str, type]:
    model = entry.content_type.model_class()
    if model is None:
        return {}
    related = {}
    for field in model._meta.concrete_fields:
        if field.is_relation and field.related_model is not None:
            related[field.name] = related[field.attname] = field.related_model
    return related


def _name_related_rows_for_staff(rows) -> None:
    """Staff keep every column, but a related row reads as its name with its id ("stella (#2)",
    not "2"): one query per model a page."""
    relations = {entry.pk: _related_fields(entry) for entry in rows}
    wanted: dict[type, set[str]] = {}
    for entry in rows:
        for name, values in entry.visible_changes.items():
            related = relations[entry.pk].get(name)
            if related is not None:
                wanted.setdefault(related, set()).update(str(v) for v in values[:2] if not _no_value(v))
    if not wanted:
        return
    names = _names_of(wanted)

    def shown(related, value):
        if _no_value(value):
            return value
        return f"{names.get((related, str(value)), 'deleted')} (#{value})"

    for entry in rows:
        for name, values in list(entry.visible_changes.items()):
            related = relations[entry.pk].get(name)
            if related is not None:
                entry.visible_changes[name] = [shown(related, value) for value in values[:2]]


def _action_label(value) -> str:
    from moderation.models import ModerationAction

    if _no_value(value):
        return value
    return dict(ModerationAction.Kind.choices).get(str(value), str(value))
