"""The staff console's trust and safety pages: the queue, an item with its actions, the blocklist
and the audit trail. Every page is ``staff_view`` (404 to non-staff); actions that need an admin
are refused by the services too, whatever the page shows."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from accounts.models import Organization
from billing.money import format_money
from billing.selectors import job_refund_state
from config.errors import ApplicationError
from jobs.models import Job
from lib.http import require_POST
from moderation import audit, selectors, services
from moderation.access import is_staff_admin, staff_view
from moderation.errors import StaffRoleRequired
from moderation.forms import ActionForm, BlocklistAddForm, BlocklistImportForm, FlagForm
from moderation.models import BlockedHash, ModerationItem

ACTIONS = {
    "hide": services.item_hide,
    "restore": services.item_restore,
    "delete": services.item_delete,
    "refund": services.item_refund,
    "suspend_key": services.item_suspend_key,
    "suspend_organization": services.item_suspend_organization,
    "block_hash": services.item_block_hash,
    "preserve": services.item_preserve,
    "unpreserve": services.item_preserve,
    "dismiss": services.item_dismiss,
}
TAKES_CUSTOMER_MESSAGE = {"hide", "delete"}


def _page(request: HttpRequest, items, per_page: int = 30):
    return Paginator(items, per_page).get_page(request.GET.get("page"))


@staff_view
def queue(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status", ModerationItem.Status.OPEN)
    origin = request.GET.get("origin", "")
    context = {
        "page": _page(request, selectors.queue(status=status, origin=origin)),
        "status": status,
        "origin": origin,
        "statuses": ModerationItem.Status.choices,
        "origins": ModerationItem.Origin.choices,
        "recent_jobs": selectors.recent_jobs_to_review() if status == ModerationItem.Status.OPEN else [],
        "is_admin": is_staff_admin(request.user),
    }
    return render(request, "moderation/queue.html", context)


def _item_or_404(item_id: uuid.UUID) -> ModerationItem:
    try:
        return selectors.item_get(item_id)
    except ModerationItem.DoesNotExist as exc:
        raise Http404("No such item.") from exc


@staff_view
def item_detail(request: HttpRequest, item_id: uuid.UUID) -> HttpResponse:
    item = _item_or_404(item_id)
    refundable, refunded = job_refund_state(item.job.organization, item.job) if item.job else (0, None)
    context = {
        "item": item,
        "job": item.job,
        "refundable": refundable,
        "refunded": refunded,
        "actions": selectors.item_actions(item),
        "reports": item.reports.order_by("created_at"),
        "form": ActionForm(),
        "is_admin": is_staff_admin(request.user),
        "blocked": BlockedHash.objects.filter(pdq_hash=item.pdq_hash).exists() if item.pdq_hash else False,
    }
    return render(request, "moderation/item.html", context)


@staff_view
def item_media(request: HttpRequest, item_id: uuid.UUID, kind: str) -> HttpResponse:
    """A job's input or output for reviewers: served to staff even while hidden from everyone else."""
    item = _item_or_404(item_id)
    if item.job is None or kind not in {"input", "output"}:
        raise Http404("No such file.")
    field = item.job.input_file if kind == "input" else item.job.output_file
    if not field.name or item.job.files_purged_at:
        raise Http404("No such file.")
    try:
        handle = field.storage.open(field.name, "rb")
    except FileNotFoundError as exc:
        raise Http404("No such file.") from exc
    audit.media_view_record(actor=request.user, item=item, kind=kind)  # looking is recorded
    response = FileResponse(handle, content_type="image/png" if kind == "output" else None)
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


@staff_view
@require_POST
def item_action(request: HttpRequest, item_id: uuid.UUID, action: str) -> HttpResponse:
    if action not in ACTIONS:
        raise Http404("No such action.")
    item = _item_or_404(item_id)
    form = ActionForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Say why: every moderation action records a reason.")
        return redirect("moderation:item", item_id=item.id)
    kwargs = {"item": item, "actor": request.user, "reason": form.cleaned_data["reason"]}
    if action in TAKES_CUSTOMER_MESSAGE:
        kwargs["customer_message"] = form.cleaned_data["customer_message"]
    if action in {"preserve", "unpreserve"}:
        kwargs["preserve"] = action == "preserve"
    try:
        done = ACTIONS[action](**kwargs)
    except ApplicationError as exc:
        # The refusal page says it once (a flash message as well would print it twice).
        return render(
            request, "moderation/action_refused.html", {"item": item, "message": exc.message}, status=exc.status_code
        )
    if done.ledger_entry is not None:
        currency = item.job.organization.wallet.currency if item.job else "USD"
        messages.success(request, f"{done.get_kind_display()}: {format_money(done.ledger_entry.amount, currency)}.")
    else:
        messages.success(request, f"{done.get_kind_display()}.")
    return redirect("moderation:item", item_id=item.id)


@staff_view
@require_POST
def job_flag(request: HttpRequest, job_id: uuid.UUID) -> HttpResponse:
    job = get_object_or_404(Job.objects.select_related("organization"), id=job_id)
    form = FlagForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Say why the job is flagged.")
        return redirect("moderation:queue")
    item = services.job_flag(job=job, actor=request.user, reason=form.cleaned_data["reason"])
    messages.success(request, "Flagged: the job is in the queue.")
    return redirect("moderation:item", item_id=item.id)


@staff_view
def blocklist(request: HttpRequest) -> HttpResponse:
    add_form = BlocklistAddForm(prefix="add")
    import_form = BlocklistImportForm(prefix="import")
    status = 200
    if request.method == "POST":
        try:
            if "add-pdq_hash" in request.POST:
                add_form = BlocklistAddForm(request.POST, prefix="add")
                if add_form.is_valid():
                    blocked = services.blocklist_add(actor=request.user, **add_form.cleaned_data)
                    if blocked.created:
                        messages.success(request, "Hash added to the blocklist.")
                    else:  # already there: nothing changed, and the reader should know
                        messages.info(
                            request,
                            f"That hash was already on the blocklist (added {blocked.created_at:%b %-d, %Y}, "
                            f"why: {blocked.reason}); nothing changed.",
                        )
                    return redirect("moderation:blocklist")
            else:
                import_form = BlocklistImportForm(request.POST, request.FILES, prefix="import")
                if import_form.is_valid():
                    counts = services.blocklist_import(
                        text=import_form.cleaned_data["file"],
                        reason=import_form.cleaned_data["reason"],
                        actor=request.user,
                    )
                    messages.success(
                        request,
                        f"Imported {counts['added']} hashes ({counts['already_blocked']} were already blocked).",
                    )
                    return redirect("moderation:blocklist")
            status = 400
        except ApplicationError as exc:
            messages.error(request, exc.message)
            status = exc.status_code
    context = {
        "page": _page(request, selectors.blocklist(), per_page=50),
        "add_form": add_form,
        "import_form": import_form,
        "is_admin": is_staff_admin(request.user),
        "distance": settings.PDQ_MATCH_DISTANCE,
    }
    return render(request, "moderation/blocklist.html", context, status=status)


@staff_view
@require_POST
def blocklist_remove(request: HttpRequest, blocked_id: int) -> HttpResponse:
    blocked = get_object_or_404(BlockedHash.objects.select_related("source_item"), pk=blocked_id)
    try:
        services.blocklist_remove(blocked=blocked, actor=request.user, reason=request.POST.get("reason", ""))
    except StaffRoleRequired as exc:
        messages.error(request, exc.message)
        return render(request, "moderation/staff_forbidden.html", status=exc.status_code)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("moderation:blocklist")
    messages.success(request, "Hash removed from the blocklist.")
    return redirect("moderation:blocklist")


@staff_view
def audit_trail(request: HttpRequest) -> HttpResponse:
    organization_id = request.GET.get("organization", "")
    try:
        organization_id = str(uuid.UUID(organization_id)) if organization_id else ""
    except ValueError as exc:
        raise Http404("Unknown organization.") from exc
    actor = request.GET.get("actor", "")
    actor_id = int(actor) if actor.isdigit() else None
    kind = request.GET.get("type", "")
    entries = audit.audit_entries(organization_id=organization_id or None, actor_id=actor_id, kind=kind)
    page = _page(request, entries, per_page=50)
    context = {
        "page": page,
        "rows": audit.audit_rows(page),
        "organizations": Organization.objects.order_by("name").only("id", "name"),
        "actors": get_user_model()
        .objects.filter(is_staff=True)
        .order_by("username")
        .only("id", "username", "first_name", "last_name", "email"),
        "types": [(t, t.replace("_", " ")) for t in (*audit.AUDIT_TYPES, "sign_in", "media_view")],
        "organization_id": organization_id,
        "actor_id": actor_id,
        "kind": kind,
    }
    return render(request, "moderation/audit.html", context)
