"""The customer dashboard: short views that parse input, call a service or selector, render.

Every read is scoped to ``request.organization`` (set by ``tenancy.org_view``); writes go through
the same services the HTTP API uses, so holds, limits and key rules are identical.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts import selectors as account_selectors
from accounts import services as account_services
from accounts.models import Membership
from accounts.selectors import members_for
from billing import selectors as billing_selectors
from billing.selectors import wallet_for
from config.errors import ApplicationError
from jobs import selectors as job_selectors
from jobs import services as job_services
from jobs.media import media_url
from jobs.models import Job
from jobs.types import JobParams
from restoration.dashboard import forms
from restoration.dashboard.selectors import usage_for
from restoration.dashboard.tenancy import LOGIN_URL, SESSION_KEY, current_membership, org_view
from restoration.intake import image_from_upload

PAGE_SIZE = 25


def _base_url(request: HttpRequest) -> str:
    return settings.PUBLIC_BASE_URL or request.build_absolute_uri("/").rstrip("/")


def _no_store(response: HttpResponse) -> HttpResponse:
    """Pages that show a secret once must not be kept by the browser or a proxy."""
    response["Cache-Control"] = "no-store"
    return response


def _page(request: HttpRequest, items, size: int = PAGE_SIZE):
    return Paginator(items, size).get_page(request.GET.get("page"))


# --- Accounts --------------------------------------------------------------------------------


def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("dashboard:home")
    form = forms.SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            user = form.save()
            organization = account_services.organization_create(name=form.cleaned_data["organization_name"])
            account_services.membership_add(organization=organization, user=user, role=Membership.Role.OWNER)
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        request.session[SESSION_KEY] = str(organization.id)
        messages.success(request, f"Welcome! {organization.name} is ready. Create an API key to start.")
        return redirect("dashboard:home")
    return render(request, "registration/signup.html", {"form": form})


@login_required(login_url=LOGIN_URL)
def no_organization(request: HttpRequest) -> HttpResponse:
    if current_membership(request) is not None:
        return redirect("dashboard:home")
    form = forms.OrganizationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            organization = account_services.organization_create(name=form.cleaned_data["name"])
            account_services.membership_add(organization=organization, user=request.user, role=Membership.Role.OWNER)
        request.session[SESSION_KEY] = str(organization.id)
        return redirect("dashboard:home")
    return render(request, "dashboard/no_organization.html", {"form": form})


@login_required(login_url=LOGIN_URL)
@require_POST
def switch_organization(request: HttpRequest) -> HttpResponse:
    try:
        organization = account_selectors.organization_for_user(request.user, request.POST.get("organization_id"))
    except ApplicationError as exc:
        raise Http404("No such organization.") from exc
    request.session[SESSION_KEY] = str(organization.id)
    return redirect("dashboard:home")


# --- Overview --------------------------------------------------------------------------------


@org_view()
def home(request: HttpRequest) -> HttpResponse:
    organization = request.organization
    context = {
        "wallet": wallet_for(organization),
        "usage": usage_for(organization),
        "recent_jobs": job_selectors.jobs_for(organization)[:8],
        "key_count": account_selectors.subscriptions_for(organization).filter(revoked_at__isnull=True).count(),
    }
    return render(request, "dashboard/home.html", context)


# --- API keys --------------------------------------------------------------------------------


@org_view()
def keys(request: HttpRequest) -> HttpResponse:
    rows = []
    for subscription in account_selectors.subscriptions_for(request.organization):
        live = {key.slot: key for key in subscription.live_keys}
        rows.append({"subscription": subscription, "primary": live.get("primary"), "secondary": live.get("secondary")})
    return render(request, "dashboard/keys.html", {"rows": rows, "form": forms.SubscriptionForm()})


@org_view(manage=True)
@require_POST
def key_create(request: HttpRequest) -> HttpResponse:
    form = forms.SubscriptionForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Give the key a name.")
        return redirect("dashboard:keys")
    try:
        subscription, full_keys = account_services.subscription_create(
            organization=request.organization, name=form.cleaned_data["name"]
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("dashboard:keys")
    context = {
        "subscription": subscription,
        "full_keys": sorted(full_keys.items()),
        "created": True,
        "api_base": _base_url(request),
    }
    return _no_store(render(request, "dashboard/key_secret.html", context))


@org_view(manage=True)
@require_POST
def key_regenerate(request: HttpRequest, subscription_id) -> HttpResponse:
    subscription = account_selectors.subscription_get(request.organization, subscription_id)
    try:
        full_key = account_services.api_key_regenerate(subscription=subscription, slot=request.POST.get("slot", ""))
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("dashboard:keys")
    slot = request.POST["slot"]
    context = {
        "subscription": subscription,
        "full_keys": [(slot, full_key)],
        "created": False,
        "api_base": _base_url(request),
    }
    return _no_store(render(request, "dashboard/key_secret.html", context))


@org_view(manage=True)
@require_POST
def key_revoke(request: HttpRequest, subscription_id) -> HttpResponse:
    subscription = account_selectors.subscription_get(request.organization, subscription_id)
    account_services.subscription_revoke(subscription=subscription)
    messages.success(request, f"“{subscription.name}” is revoked; both of its keys stop working now.")
    return redirect("dashboard:keys")


# --- Wallet ----------------------------------------------------------------------------------


@org_view()
def wallet(request: HttpRequest) -> HttpResponse:
    from billing import stripe_topup

    context = {
        "wallet": wallet_for(request.organization),
        "entries": _page(request, billing_selectors.ledger_for(request.organization)),
        "stripe_enabled": stripe_topup.is_enabled(),
        "topup_form": forms.TopUpForm(),
    }
    return render(request, "dashboard/wallet.html", context)


# --- Jobs ------------------------------------------------------------------------------------


@org_view()
def jobs(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status", "")
    items = job_selectors.jobs_for(request.organization)
    if status in Job.Status.values:
        items = items.filter(status=status)
    context = {"page": _page(request, items), "status": status, "statuses": Job.Status.choices}
    return render(request, "dashboard/jobs.html", context)


def _previews(job: Job, base_url: str) -> dict[str, str]:
    """Signed preview URLs for the files that still exist and may still be served."""
    if job.moderated_at or job.files_purged_at:
        return {}
    urls = {}
    for kind, field in (("input", job.input_file), ("output", job.output_file)):
        if field:
            urls[kind] = media_url(job, kind, base_url=base_url)
    return urls


@org_view()
def job_detail(request: HttpRequest, request_id: str) -> HttpResponse:
    job = job_selectors.job_get(organization=request.organization, request_id=request_id)
    payload = job_selectors.job_status_payload(job, base_url=_base_url(request))
    context = {
        "job": job,
        "payload": payload,
        "previews": _previews(job, _base_url(request)),
        "logs": job_selectors.job_logs(job),
        "deliveries": job_selectors.webhook_deliveries_for(request.organization, job=job).prefetch_related("attempts"),
        "can_cancel": job.status in Job.IN_FLIGHT,
    }
    return render(request, "dashboard/job_detail.html", context)


@org_view()
@require_POST
def job_cancel(request: HttpRequest, request_id: str) -> HttpResponse:
    job = job_selectors.job_get(organization=request.organization, request_id=request_id)
    try:
        job_services.job_cancel(organization=request.organization, job=job)
        messages.success(request, "The job is canceled and its hold released.")
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return redirect("dashboard:job_detail", request_id=job.request_id)


@org_view()
def restore(request: HttpRequest) -> HttpResponse:
    form = forms.RestoreForm(request.POST or None, request.FILES or None)
    status = 200
    if request.method == "POST" and not request.organization.is_active:
        status = 403
        form.add_error(None, "This organization is suspended, so it cannot start new jobs. Please contact support.")
    elif request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        params = JobParams(
            model=data["model"],
            fidelity=data["fidelity"],
            upscale=data["upscale"],
            background_enhance=data["background_enhance"],
            face_upsample=data["face_upsample"],
        )
        try:
            image = image_from_upload(data["image"])
            created_jobs, _ = job_services.job_submit(
                organization=request.organization,
                params=params,
                images=[image],
                source=Job.Source.DASHBOARD,
                user=request.user,
                base_url=_base_url(request),
            )
        except ApplicationError as exc:
            status = exc.status_code
            form.add_error(None, _friendly(exc))
        else:
            messages.success(request, "Your photo is queued. This page refreshes until it is done.")
            return redirect("dashboard:job_detail", request_id=created_jobs[0].request_id)
    elif request.method == "POST":
        status = 400
    from billing.pricing import price_for

    context = {"form": form, "wallet": wallet_for(request.organization), "base_price": price_for(JobParams())}
    return render(request, "dashboard/restore.html", context, status=status)


def _friendly(exc: ApplicationError) -> str:
    if exc.status_code == 402:
        return (
            "Your wallet does not have enough available balance for this photo. "
            "Top up the wallet, or wait for jobs in flight to finish and release their holds."
        )
    if exc.status_code == 429:
        return f"{exc.message} Wait for some of your jobs to finish, then try again."
    return exc.message


# --- Webhooks, settings, team ----------------------------------------------------------------


@org_view()
def webhooks(request: HttpRequest) -> HttpResponse:
    deliveries = (
        job_selectors.webhook_deliveries_for(request.organization).select_related("job").prefetch_related("attempts")
    )
    return render(request, "dashboard/webhooks.html", {"page": _page(request, deliveries)})


def _mask(secret: str) -> str:
    if len(secret) <= 12:
        return "•" * len(secret)
    return f"{secret[:8]}{'•' * 12}{secret[-4:]}"


@org_view()
def org_settings(request: HttpRequest) -> HttpResponse:
    organization = request.organization
    context = {"masked_secret": _mask(organization.webhook_secret), "revealed_secret": None}
    return render(request, "dashboard/settings.html", context)


@org_view(manage=True)
@require_POST
def webhook_secret_reveal(request: HttpRequest) -> HttpResponse:
    organization = request.organization
    context = {"masked_secret": _mask(organization.webhook_secret), "revealed_secret": organization.webhook_secret}
    return _no_store(render(request, "dashboard/settings.html", context))


@org_view(manage=True)
@require_POST
def webhook_secret_rotate(request: HttpRequest) -> HttpResponse:
    secret = account_services.webhook_secret_rotate(organization=request.organization)
    messages.success(
        request,
        f"New signing secret issued. The previous one keeps signing alongside it for "
        f"{settings.WEBHOOK_SECRET_OVERLAP_HOURS} hours so your receivers can switch.",
    )
    context = {"masked_secret": _mask(secret), "revealed_secret": secret}
    return _no_store(render(request, "dashboard/settings.html", context))


@org_view()
def team(request: HttpRequest) -> HttpResponse:
    form = forms.TeamAddForm(request.POST or None)
    if request.method == "POST":
        if not request.membership.can_manage:
            raise PermissionDenied("Only owners and admins of this organization can do that.")
        if form.is_valid():
            user = form.cleaned_data["identifier"]
            role = form.cleaned_data["role"]
            if role == Membership.Role.OWNER and request.membership.role != Membership.Role.OWNER:
                form.add_error("role", "Only an owner can add another owner.")
            elif members_for(request.organization).filter(user=user).exists():
                form.add_error("identifier", f"{user.get_username()} is already a member.")
            else:
                account_services.membership_add(organization=request.organization, user=user, role=role)
                messages.success(request, f"{user.get_username()} joined as {role}.")
                return redirect("dashboard:team")
    return render(request, "dashboard/team.html", {"members": members_for(request.organization), "form": form})
