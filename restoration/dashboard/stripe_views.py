"""Stripe Checkout top-ups: start a session from the wallet page, and the signed webhook."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from billing import stripe_topup
from config.errors import ApplicationError
from restoration.dashboard.forms import TopUpForm
from restoration.dashboard.tenancy import org_view


@org_view(manage=True)
@require_POST
def topup_checkout(request: HttpRequest) -> HttpResponse:
    if not stripe_topup.is_enabled():
        raise Http404("Card top-ups are not configured.")
    form = TopUpForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose an amount.")
        return redirect("dashboard:wallet")
    wallet_url = request.build_absolute_uri(reverse("dashboard:wallet"))
    try:
        checkout_url = stripe_topup.checkout_session_create(
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


@csrf_exempt
@require_POST
def stripe_webhook(request: HttpRequest) -> HttpResponse:
    """Stripe retries anything but a 2xx, so only a bad signature or bad config answers 4xx/5xx."""
    try:
        entry = stripe_topup.webhook_event_handle(
            payload=request.body, signature=request.headers.get("Stripe-Signature", "")
        )
    except ApplicationError as exc:
        return JsonResponse({"error": exc.title, "message": exc.message}, status=exc.status_code)
    return JsonResponse({"received": True, "credited": entry.amount if entry else 0})
