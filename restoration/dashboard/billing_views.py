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


def _save_from_form(request: HttpRequest, form_class, service, success) -> HttpResponse:
    """The wallet page's settings forms: validate, call the service with the cleaned fields,
    say what happened, back to the wallet. ``success`` is a message or a function of the data."""
    form = form_class(request.POST)
    if not form.is_valid():
        _form_error(request, form)
        return redirect("dashboard:wallet")
    try:
        service(organization=request.organization, **form.cleaned_data)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, success(form.cleaned_data) if callable(success) else success)
    return redirect("dashboard:wallet")


@org_view(manage=True)
@require_POST
def billing_details(request: HttpRequest) -> HttpResponse:
    return _save_from_form(
        request,
        forms.BillingDetailsForm,
        account.billing_details_update,
        "Billing details saved; new receipts show them.",
    )


@org_view(manage=True)
@require_POST
def spend_controls(request: HttpRequest) -> HttpResponse:
    return _save_from_form(request, forms.SpendControlsForm, account.spend_controls_update, "Spend controls saved.")


@org_view(manage=True)
@require_POST
def auto_recharge(request: HttpRequest) -> HttpResponse:
    return _save_from_form(
        request,
        forms.AutoRechargeForm,
        account.auto_recharge_update,
        lambda data: "Auto-recharge is " + ("on." if data["enabled"] else "off."),
    )


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
