"""The customer's billing pages: plan, billing details, spend controls, receipts."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from billing import account, receipts
from billing.plans import plan_choose
from billing.selectors import payment_get
from config.errors import ApplicationError
from restoration.dashboard import forms
from restoration.dashboard.tenancy import org_view


@org_view(manage=True)
@require_POST
def plan_switch(request: HttpRequest) -> HttpResponse:
    try:
        organization = plan_choose(
            organization=request.organization, plan_code=request.POST.get("plan", ""), user=request.user
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"You are now on the {organization.plan.name} plan.")
    return redirect("dashboard:wallet")


def _form_error(request: HttpRequest, form) -> None:
    errors = [
        f"{name}: {' '.join(msgs)}" if name != "__all__" else " ".join(msgs) for name, msgs in form.errors.items()
    ]
    messages.error(request, "; ".join(errors))


@org_view(manage=True)
@require_POST
def billing_details(request: HttpRequest) -> HttpResponse:
    form = forms.BillingDetailsForm(request.POST)
    if not form.is_valid():
        _form_error(request, form)
        return redirect("dashboard:wallet")
    try:
        account.billing_details_update(organization=request.organization, **form.cleaned_data)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Billing details saved; new receipts show them.")
    return redirect("dashboard:wallet")


@org_view(manage=True)
@require_POST
def spend_controls(request: HttpRequest) -> HttpResponse:
    form = forms.SpendControlsForm(request.POST)
    if not form.is_valid():
        _form_error(request, form)
        return redirect("dashboard:wallet")
    try:
        account.spend_controls_update(organization=request.organization, **form.cleaned_data)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Spend controls saved.")
    return redirect("dashboard:wallet")


@org_view(manage=True)
@require_POST
def auto_recharge(request: HttpRequest) -> HttpResponse:
    form = forms.AutoRechargeForm(request.POST)
    if not form.is_valid():
        _form_error(request, form)
        return redirect("dashboard:wallet")
    try:
        account.auto_recharge_update(organization=request.organization, **form.cleaned_data)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Auto-recharge is " + ("on." if form.cleaned_data["enabled"] else "off."))
    return redirect("dashboard:wallet")


@org_view(manage=True)
@require_POST
def key_spend_limit(request: HttpRequest) -> HttpResponse:
    form = forms.KeySpendLimitForm(request.POST)
    if not form.is_valid():
        _form_error(request, form)
        return redirect("dashboard:wallet")
    account.key_spend_limit_set(
        organization=request.organization,
        subscription_id=form.cleaned_data["subscription"],
        monthly_limit=form.cleaned_data["monthly_limit"],
    )
    messages.success(request, "Key spend limit saved.")
    return redirect("dashboard:wallet")


@org_view()
def receipt(request: HttpRequest, payment_id) -> HttpResponse:
    payment = payment_get(organization=request.organization, payment_id=payment_id)
    return HttpResponse(receipts.receipt_html(payment))


@org_view()
def receipt_pdf(request: HttpRequest, payment_id) -> HttpResponse:
    payment = payment_get(organization=request.organization, payment_id=payment_id)
    response = HttpResponse(receipts.receipt_pdf(payment), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="receipt-{payment.number}.pdf"'
    return response
