"""Stripe: Checkout for top-ups and subscriptions, the customer portal, and the signed webhook."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt

from billing.payments import checkout
from billing.payments.client import is_enabled
from billing.payments.webhooks import webhook_receive
from config.errors import ApplicationError
from lib.http import require_POST
from restoration.dashboard.forms import TopUpForm
from restoration.dashboard.tenancy import org_view


def _wallet_url(request: HttpRequest) -> str:
    return request.build_absolute_uri(reverse("dashboard:wallet"))


@org_view(manage=True)
@require_POST
def topup_checkout(request: HttpRequest) -> HttpResponse:
    if not is_enabled():
        raise Http404("Card top-ups are not configured.")
    form = TopUpForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(form.non_field_errors()) or "Choose an amount.")
        return redirect("dashboard:wallet")
    wallet_url = _wallet_url(request)
    try:
        checkout_url = checkout.topup_session_create(
            organization=request.organization,
            amount=form.cleaned_data["amount"],
            success_url=f"{wallet_url}?topup=success",
            cancel_url=f"{wallet_url}?topup=canceled",
            customer_email=request.user.email,
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("dashboard:wallet")
    return redirect(checkout_url)


@org_view(manage=True)
@require_POST
def subscription_checkout(request: HttpRequest) -> HttpResponse:
    if not is_enabled():
        raise Http404("Subscriptions are not configured.")
    wallet_url = _wallet_url(request)
    try:
        url = checkout.subscription_session_create(
            organization=request.organization,
            plan_code=request.POST.get("plan", ""),
            success_url=f"{wallet_url}?subscription=success",
            cancel_url=f"{wallet_url}?subscription=canceled",
            customer_email=request.user.email,
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("dashboard:wallet")
    return redirect(url)


@org_view(manage=True)
@require_POST
def billing_portal(request: HttpRequest) -> HttpResponse:
    if not is_enabled():
        raise Http404("Card payments are not configured.")
    try:
        url = checkout.portal_session_create(organization=request.organization, return_url=_wallet_url(request))
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("dashboard:wallet")
    return redirect(url)


@csrf_exempt
@require_POST
def stripe_webhook(request: HttpRequest) -> HttpResponse:
    """Stripe retries anything but a 2xx: a bad signature answers 400, bad configuration or an
    event that cannot be applied yet 503 (delivered again later), everything else 200."""
    try:
        event = webhook_receive(payload=request.body, signature=request.headers.get("Stripe-Signature", ""))
    except ApplicationError as exc:
        return JsonResponse({"error": exc.title, "message": exc.message}, status=exc.status_code)
    return JsonResponse({"received": True, "id": event.id, "outcome": event.outcome})
