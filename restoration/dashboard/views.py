"""The customer dashboard: short views that parse input, call a service or selector, render.

Every read is scoped to ``request.organization`` (set by ``tenancy.org_view``); writes go through
the same services the HTTP API uses, so holds, limits and key rules are identical.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from accounts import selectors as account_selectors
from accounts import services as account_services
from billing.errors import InsufficientBalance
from billing.pricing import CHEAPEST_PARAMS, price_for, price_lines
from billing.selectors import wallet_for
from config.errors import ApplicationError
from jobs import live
from jobs import selectors as job_selectors
from jobs import services as job_services
from jobs.engine import missing_weights
from jobs.media import media_url
from jobs.models import Job
from jobs.types import JobParams
from lib.base_url import public_base_url
from lib.http import require_POST
from restoration.dashboard import forms, landing, playground
from restoration.dashboard.selectors import trial_credit_only, usage_for
from restoration.dashboard.snippets import quickstart_snippets, request_snippets
from restoration.dashboard.tenancy import LOGIN_URL, SESSION_KEY, current_membership, org_view
from restoration.intake import image_from_upload, image_from_url

PAGE_SIZE = 25


def _no_store(response: HttpResponse) -> HttpResponse:
    """Pages that show a secret once must not be kept by the browser or a proxy."""
    response["Cache-Control"] = "no-store"
    return response


def _page(request: HttpRequest, items, size: int = PAGE_SIZE):
    return Paginator(items, size).get_page(request.GET.get("page"))


# --- Accounts --------------------------------------------------------------------------------


@login_required(login_url=LOGIN_URL)
def no_organization(request: HttpRequest) -> HttpResponse:
    if current_membership(request) is not None:
        return redirect("dashboard:home")
    form = forms.OrganizationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        organization = account_services.organization_create_owned(user=request.user, name=form.cleaned_data["name"])
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


def home(request: HttpRequest) -> HttpResponse:
    """``/``: the public landing page for a visitor, the organization's overview for a member."""
    if not request.user.is_authenticated:
        return welcome(request)
    return overview(request)


def welcome(request: HttpRequest) -> HttpResponse:
    """What the product does, how it works, what it costs (the live price tables) and its licence."""
    gateway = request_snippets(base_url=public_base_url(request), params={})[0]
    context = {
        "example": next(snippet for snippet in gateway.snippets if snippet.lang == "curl"),
        "offers": landing.plan_offers(),
        "currency": landing.currency(),
        "trial_credit": landing.signup_trial_credit(),
        "licences": landing.model_licences(),
        "formats_text": playground.formats_text(),
        "upload_limit": playground.upload_limit_text(),
    }
    return render(request, "landing.html", context)


@org_view()
def overview(request: HttpRequest) -> HttpResponse:
    organization = request.organization
    wallet = wallet_for(organization)
    context = {
        "wallet": wallet,
        "usage": usage_for(organization),
        # The price of one photo at the playground's defaults, and at its cheapest settings: under
        # the first the defaults cannot run, under the second nothing can.
        "photo_price": _price_or_none(JobParams(), plan=organization.plan),
        "cheapest_price": _price_or_none(CHEAPEST_PARAMS, plan=organization.plan),
        "trial_credit": trial_credit_only(organization),
        "recent_jobs": job_selectors.jobs_for(organization).select_related("api_key__subscription", "created_by")[:8],
        "key_count": account_selectors.subscriptions_for(organization).filter(revoked_at__isnull=True).count(),
        "not_ready": missing_weights(),
        "contact_email": settings.SUPPORT_CONTACT_EMAIL,
    }
    return render(request, "dashboard/home.html", context)


# --- API keys --------------------------------------------------------------------------------


REVOKED_SHOWN = 50  # the most recently revoked key sets listed on the keys page


@org_view()
def keys(request: HttpRequest) -> HttpResponse:
    rows = []
    for subscription in account_selectors.subscriptions_for(request.organization):
        live = {key.slot: key for key in subscription.live_keys}
        rows.append({"subscription": subscription, "primary": live.get("primary"), "secondary": live.get("secondary")})
    context = {
        "rows": rows,
        "revoked": account_selectors.revoked_subscriptions_for(request.organization)[:REVOKED_SHOWN],
        "form": forms.SubscriptionForm(),
        "contact_email": settings.SUPPORT_CONTACT_EMAIL,
    }
    return render(request, "dashboard/keys.html", context)


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
        **_quickstart_context(request, key=full_keys["primary"]),
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
        **_quickstart_context(request, key=full_key),
    }
    return _no_store(render(request, "dashboard/key_secret.html", context))


def _quickstart_context(request: HttpRequest, *, key: str | None = None) -> dict:
    base_url = public_base_url(request)
    return {"api_base": base_url, "key": key, "groups": quickstart_snippets(base_url=base_url, key=key)}


@org_view()
def quickstart(request: HttpRequest) -> HttpResponse:
    """Both APIs as code against this deployment; the key comes from ``CODEFORMER_KEY`` here,
    and is filled in only on the page shown once right after a key is made."""
    return render(request, "dashboard/quickstart.html", _quickstart_context(request))


@org_view(manage=True)
@require_POST
def key_revoke(request: HttpRequest, subscription_id) -> HttpResponse:
    subscription = account_selectors.subscription_get(request.organization, subscription_id)
    account_services.subscription_revoke(subscription=subscription)
    messages.success(request, f"“{subscription.name}” is revoked; both of its keys stop working now.")
    return redirect("dashboard:keys")


# --- Wallet ----------------------------------------------------------------------------------
# The wallet page and its forms are in billing_views.


# --- Jobs ------------------------------------------------------------------------------------


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
    base_url = public_base_url(request)
    payload = job_selectors.job_status_payload(job, base_url=base_url)
    logs = list(job_selectors.job_logs(job))
    charge = payload["cost"] if job.is_terminal else None
    context = {
        "job": job,
        "payload": payload,
        "previews": _previews(job, base_url),
        "logs": logs,
        "last_log_id": logs[-1].id if logs else 0,
        "deliveries": job_selectors.webhook_deliveries_for(request.organization, job=job).prefetch_related("attempts"),
        "can_cancel": job.status in Job.IN_FLIGHT,
        "stage": live.current_stage(job, live.latest_stage(job) if job.status == Job.Status.PROCESSING else None),
        "output_size": live.output_size(job),
        "charged": charge["charged"] if charge else None,
        "refunded": charge["refunded"] if charge else 0,
        "download_name": restored_file_name(job),
        "snippets": request_snippets(
            base_url=base_url, params=job.params, image_url=job.input_url, file_name=job.input_name or "photo.jpg"
        ),
    }
    return render(request, "dashboard/job_detail.html", context)


@org_view()
def job_events(request: HttpRequest, request_id: str) -> HttpResponse:
    """The job page's live feed: the same event stream API clients read, for the signed-in member."""
    job = job_selectors.job_get(organization=request.organization, request_id=request_id)
    last = request.headers.get("Last-Event-ID") or request.GET.get("last_event_id")
    return live.event_stream_response(
        live.job_event_stream(
            organization=request.organization,
            job_id=job.id,
            base_url=public_base_url(request),
            last_event_id=live.parse_last_event_id(last),
        )
    )


def restored_file_name(job: Job) -> str:
    """``<input name>_restored.png``: what the download of a result is called."""
    stem = (job.input_name or "").rsplit(".", 1)[0]
    stem = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in stem).strip("_")[:80]
    return f"{stem or 'photo'}_restored.png"


@org_view()
def job_download(request: HttpRequest, request_id: str) -> HttpResponse:
    job = job_selectors.job_get(organization=request.organization, request_id=request_id)
    if not job_selectors.job_output_available(job):
        raise Http404("This job has no result to download.")
    try:
        handle = job.output_file.open("rb")
    except FileNotFoundError as exc:
        raise Http404("This job has no result to download.") from exc
    response = FileResponse(handle, as_attachment=True, filename=restored_file_name(job), content_type="image/png")
    response["Cache-Control"] = "private, no-store"
    return response


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
    """The playground: one or many photos (or a URL, a sample, an earlier job's photo) restored
    through the same ``job_submit`` the API uses. A refused submission keeps its photos."""
    initial, rerun_job = _rerun_initial(request)
    form = forms.RestoreForm(
        request.POST or None, request.FILES or None, samples=playground.sample_names(), initial=initial
    )
    status, kept = 200, []
    not_ready = missing_weights()
    if request.method == "POST" and not_ready:
        # Every job would end in ERROR (uncharged, but a wasted try): refuse before holding.
        form.is_valid()
        form.add_error(None, "Restorations are temporarily unavailable, so nothing was submitted or charged.")
        status = 503
    elif request.method == "POST":
        outcome = _restore_submit(request, form)
        if isinstance(outcome, HttpResponse):
            return outcome
        status, kept = outcome
    params = _form_params(form)
    context = {
        "form": form,
        "wallet": wallet_for(request.organization),
        "price_lines": _price_lines_or_none(params, plan=request.organization.plan),
        "params": params,
        "samples": playground.SAMPLES,
        "kept": kept,
        "rerun_job": rerun_job if not kept else None,
        "max_images": settings.MAX_IMAGES_PER_REQUEST,
        "upload_checks": playground.upload_checks(),
        "not_ready": not_ready,
        "contact_email": settings.SUPPORT_CONTACT_EMAIL,
    }
    return render(request, "dashboard/restore.html", context, status=status)


def _rerun_initial(request: HttpRequest) -> tuple[dict, Job | None]:
    source = request.GET.get("from") if request.method == "GET" else request.POST.get("rerun")
    if not source:
        return {}, None
    job = job_selectors.job_get(organization=request.organization, request_id=source)
    params = job.params or {}
    initial = {
        "rerun": job.request_id,
        "model": params.get("model", job.model),
        "fidelity": params.get("fidelity", 0.5),
        "upscale": params.get("upscale", 2),
        "background_enhance": params.get("background_enhance", True),
        "face_upsample": params.get("face_upsample", True),
    }
    return initial, job


def _restore_submit(request: HttpRequest, form) -> HttpResponse | tuple[int, list]:
    organization = request.organization
    if not organization.is_active:
        form.add_error(None, "This organization is suspended, so it cannot start new jobs. Please contact support.")
        return 403, []
    valid = form.is_valid()
    data = form.cleaned_data
    images: list = []
    if not form.non_field_errors():
        try:
            images = _playground_images(request, data, params=_form_params(form))
        except ApplicationError as exc:
            form.add_error("image_url" if data.get("image_url") else None, exc.message)
            images = []
    if not valid or not images:
        return 400, _keep(request, form, images)
    try:
        created_jobs, _ = job_services.job_submit(
            organization=organization,
            params=_form_params(form),
            images=images,
            source=Job.Source.DASHBOARD,
            user=request.user,
            base_url=public_base_url(request),
        )
    except ApplicationError as exc:
        form.add_error(None, _friendly(exc))
        return exc.status_code, _keep(request, form, images)
    playground.forget_images(organization, request.user, data.get("kept", ""))
    if len(created_jobs) == 1:
        messages.success(request, "Your photo was sent for restoration; this page shows its progress and the result.")
        return redirect("dashboard:job_detail", request_id=created_jobs[0].request_id)
    messages.success(request, f"{len(created_jobs)} photos were sent for restoration; this list follows them.")
    ids = ",".join(str(job.id) for job in created_jobs)
    return redirect(f"{reverse('dashboard:jobs')}?ids={ids}")


def _playground_images(request: HttpRequest, data: dict, *, params: JobParams) -> list:
    """The photos of a submission, validated, from whichever source the form names. An image
    URL is fetched only for an organization that can pay for the job."""
    if data.get("images"):
        return [image_from_upload(upload, field=upload.name or "image") for upload in data["images"]]
    if data.get("image_url"):
        job_services.job_admission_precheck(organization=request.organization, params=params)
        return [image_from_url(data["image_url"], organization=request.organization, field="image_url")]
    if data.get("sample"):
        return [playground.sample_image(data["sample"])]
    if data.get("kept"):
        return playground.kept_images(request.organization, request.user, data["kept"])
    if data.get("rerun"):
        return [playground.rerun_image(request.organization, data["rerun"])]
    return []


def _keep(request: HttpRequest, form, images: list) -> list:
    """Hold on to validated photos of a refused submission so the member need not choose them again."""
    if not images:
        return []
    token = playground.keep_images(request.organization, request.user, images)
    form.data = form.data.copy()
    form.data["kept"] = token
    form.data["rerun"] = ""
    for name in ("image_url", "sample"):
        form.data[name] = ""
    return images


def _form_params(form) -> JobParams:
    """The options as submitted (or their defaults), for the price shown next to the form."""
    data = getattr(form, "cleaned_data", None) or {}

    def pick(name):
        if name in data:
            return data[name]
        return form.initial.get(name, form.fields[name].initial)

    names = ("model", "fidelity", "upscale", "background_enhance", "face_upsample")
    try:
        return JobParams.from_values({name: pick(name) for name in names} | {"model": pick("model") or "codeformer"})
    except (TypeError, ValueError):
        return JobParams()


def _price_or_none(params: JobParams, *, plan=None) -> int | None:
    try:
        return price_for(params, plan=plan)
    except ApplicationError:
        return None


def _price_lines_or_none(params: JobParams, *, plan=None):
    try:
        return price_lines(params, plan=plan)
    except ApplicationError:
        return None


def _friendly(exc: ApplicationError) -> str:
    # Only the bare "not enough balance" gets the dashboard's wording: a spend limit or a wallet in
    # debt says why, and what to do, itself.
    if isinstance(exc, InsufficientBalance) and exc.message == InsufficientBalance.default_message:
        return (
            "Your wallet does not have enough available balance for this photo. "
            "Top up the wallet, or wait for jobs in flight to finish and release their holds."
        )
    if exc.status_code == 429:
        return f"{exc.message} Wait for some of your jobs to finish, then try again."
    return exc.message


# --- Settings, team (the webhook pages are in webhook_views) ------------------------------


def _mask(secret: str) -> str:
    if len(secret) <= 12:
        return "•" * len(secret)
    return f"{secret[:8]}{'•' * 12}{secret[-4:]}"


@org_view()
def org_settings(request: HttpRequest) -> HttpResponse:
    organization = request.organization
    context = {
        "masked_secret": _mask(organization.webhook_secret),
        "revealed_secret": None,
        "name_form": forms.OrganizationForm(initial={"name": organization.name}),
    }
    return render(request, "dashboard/settings.html", context)


@org_view(manage=True)
@require_POST
def organization_rename(request: HttpRequest) -> HttpResponse:
    form = forms.OrganizationForm(request.POST)
    if form.is_valid():
        try:
            account_services.organization_rename(organization=request.organization, name=form.cleaned_data["name"])
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, f"The organization is now called {request.organization.name}.")
    else:
        messages.error(request, "Give the organization a name (up to 200 characters).")
    return redirect("dashboard:settings")


@org_view(manage=True)
@require_POST
def webhook_secret_reveal(request: HttpRequest) -> HttpResponse:
    organization = request.organization
    secret = account_services.webhook_secret_reveal(organization=organization, user=request.user)
    context = {"masked_secret": _mask(secret), "revealed_secret": secret}
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
