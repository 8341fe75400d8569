"""Webhook pages: the organization's endpoints (owners and admins write, members read), every
delivery with its attempts, a test event, and replaying a delivery. Writes go through
``jobs.endpoints`` and ``jobs.webhooks``, the same delivery machinery as every event."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from config.errors import ApplicationError
from jobs import endpoints as endpoint_services
from jobs import selectors as job_selectors
from jobs.webhooks import webhook_delivery_replay
from lib.http import require_POST
from lib.netfetch import OutboundURLError
from restoration.dashboard import forms
from restoration.dashboard.tenancy import org_view

PAGE_SIZE = 25


@org_view()
def webhooks(request: HttpRequest) -> HttpResponse:
    organization = request.organization
    deliveries = job_selectors.webhook_deliveries_for(organization)
    context = {
        "endpoints": job_selectors.webhook_endpoints_for(organization),
        "page": Paginator(deliveries, PAGE_SIZE).get_page(request.GET.get("page")),
    }
    return render(request, "dashboard/webhooks.html", context)


def _endpoint_values(form) -> dict:
    data = form.cleaned_data
    return {
        "url": data["url"],
        "events": data["events"],
        "description": data["description"],
        "enabled": data["enabled"],
    }


def _refused(form, exc: ApplicationError) -> None:
    form.add_error("url" if isinstance(exc, OutboundURLError) else None, exc.message)


@org_view(manage=True)
def endpoint_create(request: HttpRequest) -> HttpResponse:
    # A new endpoint starts with what most integrations want: finished jobs and every billing
    # notice (the page says endpoints receive them); progress events are opt-in.
    initial = {"events": ["completed", *endpoint_services.billing_events()], "enabled": True}
    form = forms.WebhookEndpointForm(request.POST or None, initial=initial)
    if request.method == "POST":
        if form.is_valid():
            try:
                endpoint = endpoint_services.webhook_endpoint_create(
                    organization=request.organization, **_endpoint_values(form)
                )
            except ApplicationError as exc:
                _refused(form, exc)
            else:
                messages.success(request, "Endpoint added. Send it a test event to check that it verifies.")
                return redirect("dashboard:webhook_endpoint", endpoint_id=endpoint.id)
        return render(request, "dashboard/webhook_endpoint_form.html", {"form": form}, status=400)
    return render(request, "dashboard/webhook_endpoint_form.html", {"form": form})


@org_view()
def endpoint_detail(request: HttpRequest, endpoint_id) -> HttpResponse:
    endpoint = job_selectors.webhook_endpoint_get(request.organization, endpoint_id)
    initial = {k: getattr(endpoint, k) for k in ("url", "events", "description", "enabled")}
    form = forms.WebhookEndpointForm(request.POST or None, initial=initial)
    status = 200
    if request.method == "POST":
        if not request.membership.can_manage:
            raise PermissionDenied("Only owners and admins of this organization can do that.")
        status = 400
        if form.is_valid():
            try:
                endpoint_services.webhook_endpoint_update(endpoint=endpoint, **_endpoint_values(form))
            except ApplicationError as exc:
                _refused(form, exc)
            else:
                messages.success(request, "Endpoint saved.")
                return redirect("dashboard:webhook_endpoint", endpoint_id=endpoint.id)
        endpoint.refresh_from_db()  # the page shows what is stored, the form what was typed
    deliveries = job_selectors.webhook_deliveries_for(request.organization, endpoint=endpoint)
    context = {"endpoint": endpoint, "form": form, "deliveries": deliveries[:PAGE_SIZE]}
    return render(request, "dashboard/webhook_endpoint.html", context, status=status)


@org_view(manage=True)
@require_POST
def endpoint_delete(request: HttpRequest, endpoint_id) -> HttpResponse:
    endpoint = job_selectors.webhook_endpoint_get(request.organization, endpoint_id)
    endpoint_services.webhook_endpoint_delete(endpoint=endpoint)
    messages.success(request, f"The endpoint {endpoint.url} is removed; its past deliveries stay listed.")
    return redirect("dashboard:webhooks")


@org_view(manage=True)
@require_POST
def endpoint_test(request: HttpRequest, endpoint_id) -> HttpResponse:
    endpoint = job_selectors.webhook_endpoint_get(request.organization, endpoint_id)
    delivery = endpoint_services.webhook_endpoint_send_test(endpoint=endpoint)
    messages.success(request, "A test event is on its way; this page shows each attempt.")
    return redirect("dashboard:webhook_delivery", delivery_id=delivery.id)


@org_view()
def delivery_detail(request: HttpRequest, delivery_id) -> HttpResponse:
    delivery = job_selectors.webhook_delivery_get(request.organization, delivery_id)
    return render(request, "dashboard/webhook_delivery.html", {"delivery": delivery})


@org_view(manage=True)
@require_POST
def delivery_replay(request: HttpRequest, delivery_id) -> HttpResponse:
    delivery = job_selectors.webhook_delivery_get(request.organization, delivery_id)
    replay = webhook_delivery_replay(delivery=delivery)
    messages.success(request, "Sent again as a new delivery with the same body and webhook-id.")
    return redirect("dashboard:webhook_delivery", delivery_id=replay.id)
