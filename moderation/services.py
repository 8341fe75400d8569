"""What staff do with the moderation queue, and what reporters and the blocklist feed into it.

Every action is one ``ModerationAction`` row (who, when, why, the words shown to the customer),
written in the same transaction as its effect. Roles are checked here, not only in the views:
support may flag and preserve evidence; hiding, deleting, restoring, refunding, suspending,
blocklisting and dismissing need an admin.
"""

from __future__ import annotations

import contextlib
import secrets

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from accounts.models import Organization
from accounts.services import organization_set_status, subscription_revoke
from billing.services import job_refund
from config.errors import BadRequest, Conflict
from jobs.models import Job, JobLog
from jobs.retention import job_files_delete
from jobs.services import job_cancel
from lib.audit import audit_event
from lib.pdq import normalize_hex
from moderation.access import require_staff_admin
from moderation.audit import BLOCKLIST_IMPORT
from moderation.errors import InvalidHash
from moderation.models import (
    REPORT_REFERENCE_PREFIX,
    AbuseReport,
    BlockedHash,
    ImageHash,
    ModerationAction,
    ModerationItem,
)

Kind = ModerationAction.Kind
QUARANTINE_PREFIX = "quarantine/"

CUSTOMER_MESSAGES = {
    # Hiding is a decision (it closes the item), not a pause: the wording must not promise a review.
    Kind.HIDE: "This result has been hidden by our trust and safety team: it may break our acceptable use "
    "policy. If you think this is a mistake, contact support and quote this request's id.",
    Kind.DELETE: "This result was removed by our trust and safety team because it breaks our acceptable use policy.",
    Kind.RESTORE: "",
    Kind.REFUND: "The charge for this request was refunded to your wallet.",
}


def _reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise BadRequest("Say why: every moderation action records a reason.")
    return reason[:1000]


def _record(*, item: ModerationItem, kind: str, actor, reason: str, customer_message: str = "", **extra):
    return ModerationAction.objects.create(
        item=item,
        job_id=item.job_id,
        kind=kind,
        actor=actor,
        actor_username=actor.get_username(),
        reason=reason,
        customer_message=customer_message[:300],
        **extra,
    )


def _close(item: ModerationItem, *, actor, status: str = ModerationItem.Status.ACTIONED) -> None:
    item.status = status
    item.resolved_at = timezone.now()
    item.resolved_by = actor
    item.save(update_fields=["status", "resolved_at", "resolved_by", "updated_at"])


def _locked(item: ModerationItem) -> ModerationItem:
    return (
        ModerationItem.objects.select_for_update(of=("self",))
        .select_related("job", "organization", "api_key__subscription")
        .get(pk=item.pk)
    )


def _job_of(item: ModerationItem) -> Job:
    if item.job_id is None:
        raise Conflict("This item has no job (the upload was refused and nothing was stored).")
    return Job.objects.select_for_update().select_related("organization").get(pk=item.job_id)


# --- Opening items ----------------------------------------------------------------------------


def _item_for_job(*, job: Job, origin: str, reason: str) -> ModerationItem:
    return ModerationItem.objects.create(
        origin=origin,
        job=job,
        organization_id=job.organization_id,
        api_key_id=job.api_key_id,
        user_id=job.created_by_id,
        source=job.source,
        request_id=job.request_id,
        reason=reason[:2000],
        pdq_hash=_input_hash(job),
    )


def _input_hash(job: Job) -> str:
    return (
        ImageHash.objects.filter(job_id=job.id, kind=ImageHash.Kind.INPUT).values_list("pdq_hash", flat=True).first()
        or ""
    )


@transaction.atomic
def job_flag(*, job: Job, actor, reason: str) -> ModerationItem:
    """Staff (support too) put a job in the queue."""
    reason = _reason(reason)
    item = _item_for_job(job=job, origin=ModerationItem.Origin.STAFF, reason=reason)
    _record(item=item, kind=Kind.FLAG, actor=actor, reason=reason)
    return item


# --- Actions on an item's job -------------------------------------------------------------------


def _stop_if_running(job: Job) -> None:
    if job.status in Job.IN_FLIGHT:
        # Canceled, so its hold is released, never charged; if it finished meanwhile, go on.
        with contextlib.suppress(Conflict):
            job_cancel(organization=job.organization, job=job, reason="Taken down by trust and safety.")
        job.refresh_from_db()


def _move(name: str, new_name: str) -> str:
    """Move a stored file through the storage API (local files or S3 alike)."""
    with default_storage.open(name, "rb") as handle:
        saved = default_storage.save(new_name, ContentFile(handle.read()))
    default_storage.delete(name)
    return saved


def _move_job_files(job: Job, *, into_quarantine: bool) -> None:
    updates = {}
    for field in ("input_file", "output_file"):
        name = getattr(job, field).name
        if not name or name.startswith(QUARANTINE_PREFIX) == into_quarantine:
            continue
        target = QUARANTINE_PREFIX + name if into_quarantine else name[len(QUARANTINE_PREFIX) :]
        with contextlib.suppress(FileNotFoundError):
            updates[field] = _move(name, target)
    if updates:
        Job.objects.filter(pk=job.pk).update(**updates)


@transaction.atomic
def item_hide(*, item: ModerationItem, actor, reason: str, customer_message: str = "") -> ModerationAction:
    """Stop serving the job's files at once; keep them, moved under ``quarantine/``, for review.
    Links already handed out answer 410 (local) or stop resolving (S3: the object moved)."""
    require_staff_admin(actor)
    reason = _reason(reason)
    item = _locked(item)
    job = _job_of(item)
    if job.files_purged_at is not None:
        raise Conflict("The files of this job are already deleted.")
    _stop_if_running(job)
    message = customer_message.strip() or CUSTOMER_MESSAGES[Kind.HIDE]
    now = timezone.now()
    Job.objects.filter(pk=job.pk).update(moderated_at=now, moderation_note=message[:300], updated_at=now)
    _move_job_files(job, into_quarantine=True)
    JobLog.objects.create(job=job, message="Hidden by moderation.")
    _close(item, actor=actor)
    return _record(item=item, kind=Kind.HIDE, actor=actor, reason=reason, customer_message=message)


@transaction.atomic
def item_restore(*, item: ModerationItem, actor, reason: str) -> ModerationAction:
    """Undo a hide: the files move back and the job's links work again."""
    require_staff_admin(actor)
    reason = _reason(reason)
    item = _locked(item)
    job = _job_of(item)
    if job.moderated_at is None:
        raise Conflict("This job is not hidden.")
    if job.files_purged_at is not None:
        raise Conflict("The files of this job were deleted; there is nothing to restore.")
    _move_job_files(job, into_quarantine=False)
    Job.objects.filter(pk=job.pk).update(moderated_at=None, moderation_note="", updated_at=timezone.now())
    JobLog.objects.create(job=job, message="Restored by moderation.")
    _close(item, actor=actor)
    return _record(item=item, kind=Kind.RESTORE, actor=actor, reason=reason)


def item_delete(*, item: ModerationItem, actor, reason: str, customer_message: str = "") -> ModerationAction:
    """Delete the job's files from storage for good (S3 too: through the storage API)."""
    require_staff_admin(actor)
    reason = _reason(reason)
    with transaction.atomic():
        item = _locked(item)
        if item.preserve_evidence:
            raise Conflict("This item's evidence is preserved; release it before deleting the files.")
        job = _job_of(item)
        _stop_if_running(job)
        message = customer_message.strip() or CUSTOMER_MESSAGES[Kind.DELETE]
        now = timezone.now()
        Job.objects.filter(pk=job.pk).update(moderated_at=now, moderation_note=message[:300], updated_at=now)
        _close(item, actor=actor)
        action = _record(item=item, kind=Kind.DELETE, actor=actor, reason=reason, customer_message=message)
    job.refresh_from_db()
    # After the commit: a deleted file cannot be rolled back, a row can.
    job_files_delete(job=job, message="Files deleted by moderation.")
    return action


@transaction.atomic
def item_refund(*, item: ModerationItem, actor, reason: str) -> ModerationAction:
    """Give the job's charge back: one ledger adjustment tied to the job, at most once."""
    require_staff_admin(actor)
    reason = _reason(reason)
    item = _locked(item)
    job = _job_of(item)
    if ModerationAction.objects.filter(job_id=job.id, kind=Kind.REFUND).exists():
        raise Conflict("This job was already refunded.")
    # The ledger line is the customer's to read: it names the request, never staff's reason
    # (kept on the action and in the audit trail).
    entry = job_refund(
        job=job, description=f"Refunded by our trust and safety team: {job.request_id}", created_by=actor
    )
    _close(item, actor=actor)
    return _record(
        item=item,
        kind=Kind.REFUND,
        actor=actor,
        reason=reason,
        customer_message=CUSTOMER_MESSAGES[Kind.REFUND],
        ledger_entry=entry,
    )


@transaction.atomic
def item_suspend_key(*, item: ModerationItem, actor, reason: str) -> ModerationAction:
    """Revoke the key set the item came through (both slots: the other would keep working)."""
    require_staff_admin(actor)
    reason = _reason(reason)
    item = _locked(item)
    if item.api_key is None:
        raise Conflict("This item did not come through an API key.")
    subscription_revoke(subscription=item.api_key.subscription, by_moderation=True)
    _close(item, actor=actor)
    return _record(item=item, kind=Kind.SUSPEND_KEY, actor=actor, reason=reason)


@transaction.atomic
def item_suspend_organization(*, item: ModerationItem, actor, reason: str) -> ModerationAction:
    require_staff_admin(actor)
    reason = _reason(reason)
    item = _locked(item)
    if item.organization is None:
        raise Conflict("This item belongs to no organization.")
    organization_set_status(
        organization=item.organization, status=Organization.Status.SUSPENDED, actor=actor, reason=reason
    )
    _close(item, actor=actor)
    return _record(item=item, kind=Kind.SUSPEND_ORGANIZATION, actor=actor, reason=reason)


@transaction.atomic
def item_block_hash(*, item: ModerationItem, actor, reason: str) -> ModerationAction:
    """One click from the queue: the item's input hash joins the blocklist."""
    require_staff_admin(actor)
    reason = _reason(reason)
    item = _locked(item)
    pdq_hash = item.pdq_hash or (_input_hash(item.job) if item.job_id else "")
    if not pdq_hash:
        raise Conflict("This item has no perceptual hash to block.")
    blocklist_add(pdq_hash=pdq_hash, reason=reason, actor=actor, source_item=item)
    _close(item, actor=actor)
    return _record(item=item, kind=Kind.BLOCK_HASH, actor=actor, reason=reason)


@transaction.atomic
def item_preserve(*, item: ModerationItem, actor, reason: str, preserve: bool = True) -> ModerationAction:
    """Mark (or unmark) the item as evidence: its job's files outlive the retention purge."""
    reason = _reason(reason)
    item = _locked(item)
    if preserve and item.job_id is None:
        raise Conflict("Nothing was stored for this item, so there is nothing to preserve.")
    if not preserve:
        require_staff_admin(actor)
    item.preserve_evidence = preserve
    item.save(update_fields=["preserve_evidence", "updated_at"])
    return _record(item=item, kind=Kind.PRESERVE if preserve else Kind.UNPRESERVE, actor=actor, reason=reason)


@transaction.atomic
def item_dismiss(*, item: ModerationItem, actor, reason: str) -> ModerationAction:
    require_staff_admin(actor)
    reason = _reason(reason)
    item = _locked(item)
    _close(item, actor=actor, status=ModerationItem.Status.DISMISSED)
    return _record(item=item, kind=Kind.DISMISS, actor=actor, reason=reason)


# --- The blocklist ----------------------------------------------------------------------------


def blocklist_add(*, pdq_hash: str, reason: str, actor, source_item: ModerationItem | None = None) -> BlockedHash:
    """Block a hash; a hash already blocked keeps its entry (and reason): ``.created`` on the
    returned row says which happened."""
    require_staff_admin(actor)
    reason = _reason(reason)
    try:
        value = normalize_hex(pdq_hash)
    except ValueError as exc:
        raise InvalidHash() from exc
    blocked, created = BlockedHash.objects.get_or_create(
        pdq_hash=value, defaults={"reason": reason[:300], "added_by": actor, "source_item": source_item}
    )
    blocked.created = created
    return blocked


@transaction.atomic
def blocklist_import(*, text: str, reason: str, actor) -> dict[str, int]:
    """Hashes from a file: one per line, the hash first (``hash`` or ``hash,anything``; ``#``
    comments and blank lines skipped). All or nothing: a malformed line refuses the file."""
    require_staff_admin(actor)
    reason = _reason(reason)
    hashes: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        first = line.replace(";", ",").replace("\t", ",").split(",")[0].strip()
        if first.lower() in {"hash", "pdq", "pdq_hash"}:
            continue  # a header row
        try:
            hashes.append(normalize_hex(first))
        except ValueError as exc:
            raise InvalidHash(
                f"Line {number}: {first[:80]!r} is not a PDQ hash (64 hexadecimal digits). Nothing was imported: "
                "fix or remove that line and import the file again."
            ) from exc
    if not hashes:
        raise InvalidHash("The file holds no hashes.")
    existing = set(BlockedHash.objects.filter(pdq_hash__in=hashes).values_list("pdq_hash", flat=True))
    new = list(dict.fromkeys(h for h in hashes if h not in existing))
    created = BlockedHash.objects.bulk_create(
        [BlockedHash(pdq_hash=h, reason=reason[:300], added_by=actor) for h in new]
    )
    outcome = {"added": len(new), "already_blocked": len(hashes) - len(new)}
    # bulk_create sends no signal auditlog hears: one entry for the import, on its first hash
    # (the trail's rows are per object), naming how many went in and why.
    if created:
        audit_event(created[0], BLOCKLIST_IMPORT, actor=actor, reason=reason[:300], hashes=new[:1000], **outcome)
    return outcome


@transaction.atomic
@transaction.atomic
def blocklist_remove(*, blocked: BlockedHash, actor, reason: str) -> None:
    """Take a hash off the blocklist, saying why: the audit trail keeps the reason, and the item
    the hash was blocked from records it in its history (which otherwise still ends 'Hash
    blocklisted')."""
    require_staff_admin(actor)
    reason = _reason(reason)
    audit_event(blocked, "blocklist_remove", actor=actor, reason=reason, pdq_hash=blocked.pdq_hash)
    if blocked.source_item_id:
        _record(item=blocked.source_item, kind=Kind.UNBLOCK_HASH, actor=actor, reason=reason)
    blocked.delete()


# --- Abuse reports ------------------------------------------------------------------------------


def _new_reference() -> str:
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return REPORT_REFERENCE_PREFIX + "".join(secrets.choice(alphabet) for _ in range(10))


@transaction.atomic
def report_create(*, job: Job, target: str, category: str, details: str, contact_email: str, ip_digest: str):
    """File an anonymous report against ``job``. Reports of a job already waiting in the queue
    join its open item instead of opening another."""
    if category not in AbuseReport.Category.values:
        raise BadRequest(f"Unknown category; expected one of {', '.join(AbuseReport.Category.values)}.")
    item = (
        ModerationItem.objects.select_for_update()
        .filter(job=job, origin=ModerationItem.Origin.REPORT, status=ModerationItem.Status.OPEN)
        .first()
    )
    label = AbuseReport.Category(category).label
    if item is None:
        item = _item_for_job(job=job, origin=ModerationItem.Origin.REPORT, reason=f"Reported: {label}. {details}")
    report = AbuseReport(
        reference=_new_reference(),
        item=item,
        target=target[:2000],
        category=category,
        details=details[:4000],
        contact_email=contact_email,
        ip_digest=ip_digest,
    )
    report.full_clean()
    report.save()
    return report
