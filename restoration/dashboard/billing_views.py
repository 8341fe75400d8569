"""The customer's billing pages: the wallet (plan, billing details, spend controls, receipts)
and the forms it posts to.

A settings form that does not validate, or that its service refuses, comes back on the wallet
page with status 400 (as the team and webhook forms do): what was typed is kept, each error sits
next to its field, and the bad fields are marked."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from billing import account, receipts
from billing import selectors as billing_selectors
from billing.plans import plan_choose
from billing.selectors import payment_get, wallet_for
from config.errors import ApplicationError, NotFound
from lib.http import require_POST
from restoration.dashboard import forms
from restoration.dashboard.tenancy import org_view

LEDGER_PAGE_SIZE = 25


@org_view()
def wallet(request: HttpRequest) -> HttpResponse:
    return _wallet_page(request)


def _wallet_page(
    request: HttpRequest, *, bound: dict | None = None, key_limit: forms.KeySpendLimitForm | None = None, status=200
) -> HttpResponse:
    """The wallet page; ``bound`` replaces the named settings forms with the submitted ones and
    ``key_limit`` puts a submitted key spend limit back on its key set's row."""
    from billing.controls import images_this_month, next_month_start, spend_this_month
    from billing.payments.client import is_enabled as stripe_enabled

    organization = request.organization
    wallet = wallet_for(organization)
    context = {
        "wallet": wallet,
        "entries": Paginator(billing_selectors.ledger_for(organization), LEDGER_PAGE_SIZE).get_page(
            request.GET.get("page")
        ),
        "stripe_enabled": stripe_enabled(),
        "topup_form": forms.TopUpForm(currency=wallet.currency),
        "billing_contact_email": settings.BILLING_CONTACT_EMAIL,
        "plan": organization.plan,
        "plan_rows": [
            {"plan": p, "switch_notice": plan_switch_notice(organization=organization, new=p)}
            for p in billing_selectors.plans_offered()
        ],
        "images_this_month": images_this_month(organization),
        "spend_this_month": spend_this_month(organization),
        "quota_renews_at": next_month_start(),
        **_billing_forms(organization, key_limit=key_limit),
        **(bound or {}),
    }
    return render(request, "dashboard/wallet.html", context, status=status)


def _billing_forms(organization, *, key_limit: forms.KeySpendLimitForm | None = None) -> dict:
    from accounts.models import Subscription
    from billing.account import DETAIL_FIELDS
    from billing.models import KeySpendLimit

    billing_account = billing_selectors.billing_account_for(organization)
    limits = dict(
        KeySpendLimit.objects.filter(subscription__organization=organization).values_list(
            "subscription_id", "monthly_limit"
        )
    )
    key_sets = []
    for s in Subscription.objects.filter(organization=organization, revoked_at__isnull=True).order_by("name"):
        row = {"subscription": s, "limit": limits.get(s.id), "limit_amount": _major_units(limits.get(s.id))}
        if key_limit is not None and key_limit.data.get("subscription") == str(s.id):
            row["limit_amount"] = key_limit.data.get("monthly_limit", "")
            row["errors"] = key_limit.errors.get("monthly_limit")
        key_sets.append(row)
    return {
        "billing_account": billing_account,
        "payments": billing_selectors.payments_for(organization)[:20],
        "details_form": forms.BillingDetailsForm(initial={f: getattr(billing_account, f) for f in DETAIL_FIELDS}),
        "controls_form": forms.SpendControlsForm(
            initial={
                "monthly_spend_limit": billing_account.monthly_spend_limit,
                "spend_alert_percents": billing_account.spend_alert_percents,
                "low_balance_threshold": billing_account.low_balance_threshold,
            }
        ),
        "recharge_form": forms.AutoRechargeForm(
            initial={
                "enabled": billing_account.auto_recharge_enabled,
                "threshold": billing_account.auto_recharge_threshold or 1000,
                "amount": billing_account.auto_recharge_amount or 2500,
                "monthly_cap": billing_account.auto_recharge_monthly_cap or 10000,
            }
        ),
        "key_sets": key_sets,
    }


def _major_units(minor: int | None) -> str:
    """A form's value for an amount kept in minor units: ``"7.50"``, or empty for none."""
    return "" if minor is None else forms.MoneyField().prepare_value(minor)


# --- Plan ------------------------------------------------------------------------------------


def _limits(plan) -> list[tuple[str, int | None]]:
    """The limits a customer feels, as (what, value); None is unlimited (a 0 in the plan)."""
    return [
        ("requests a minute", plan.requests_per_minute or None),
        ("jobs in flight", plan.max_jobs_in_flight),
        ("images a month", plan.monthly_image_quota or None),
        ("hours of file retention", plan.file_retention_hours),
    ]


def _lower(new: int | None, old: int | None) -> bool:
    return new is not None and (old is None or new < old)


def _words(value: int | None) -> str:
    return "unlimited" if value is None else str(value)


def plan_switch_notice(*, organization, new) -> str:
    """What the "Switch" button asks before moving the organization to the free plan ``new``:
    that the change is immediate, the new plan's limits and, for each one that goes down, the
    current one."""
    limits, lowered = [], False
    for (what, value), (_, old) in zip(_limits(new), _limits(organization.plan), strict=True):
        if _lower(value, old):
            lowered = True
            limits.append(f"{_words(value)} {what} instead of {_words(old)}")
        else:
            limits.append(f"{_words(value)} {what}")
    return (
        f"Switch {organization.name} from {organization.plan.name} to {new.name} now? "
        + ("It takes effect immediately and lowers your limits: " if lowered else "It takes effect immediately: ")
        + ", ".join(limits)
        + f". Prices follow the {new.name} plan."
    )


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


# --- Settings forms --------------------------------------------------------------------------


def _refused(request: HttpRequest, what: str, form: forms.WalletForm, **page) -> HttpResponse:
    """The wallet page again, with ``form`` as submitted and a banner that names the bad fields
    by their labels (or gives the service's reason)."""
    labels = form.error_labels()
    reason = "check " + ", ".join(labels) + " below." if labels else " ".join(form.non_field_errors())
    messages.error(request, f"{what} not saved: {reason}")
    return _wallet_page(request, status=400, **page)


def _save_from_form(request: HttpRequest, form_class, service, *, name: str, what: str, success) -> HttpResponse:
    """Validate, call the service with the cleaned fields, say what happened, back to the
    wallet; ``name`` is the form's name in the page. ``success`` is a message or a function of the data."""
    form = form_class(request.POST)
    if form.is_valid():
        try:
            service(organization=request.organization, **form.cleaned_data)
        except ApplicationError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, success(form.cleaned_data) if callable(success) else success)
            return redirect("dashboard:wallet")
    return _refused(request, what, form, bound={name: form})


@org_view(manage=True)
@require_POST
def billing_details(request: HttpRequest) -> HttpResponse:
    return _save_from_form(
        request,
        forms.BillingDetailsForm,
        account.billing_details_update,
        name="details_form",
        what="Billing details",
        success="Billing details saved; new receipts show them.",
    )


@org_view(manage=True)
@require_POST
def spend_controls(request: HttpRequest) -> HttpResponse:
    return _save_from_form(
        request,
        forms.SpendControlsForm,
        account.spend_controls_update,
        name="controls_form",
        what="Spend controls",
        success="Spend controls saved.",
    )


@org_view(manage=True)
@require_POST
def auto_recharge(request: HttpRequest) -> HttpResponse:
    return _save_from_form(
        request,
        forms.AutoRechargeForm,
        account.auto_recharge_update,
        name="recharge_form",
        what="Auto-recharge",
        success=lambda data: "Auto-recharge is " + ("on." if data["enabled"] else "off."),
    )


@org_view(manage=True)
@require_POST
def key_spend_limit(request: HttpRequest) -> HttpResponse:
    form = forms.KeySpendLimitForm(request.POST)
    if form.is_valid():
        try:
            account.key_spend_limit_set(
                organization=request.organization,
                subscription_id=form.cleaned_data["subscription"],
                monthly_limit=form.cleaned_data["monthly_limit"],
            )
        except NotFound:
            raise  # another tenant's key set: a 404
        except ApplicationError as exc:
            form.add_error("monthly_limit", exc.message)
        else:
            messages.success(request, "Key spend limit saved.")
            return redirect("dashboard:wallet")
    return _refused(request, "Key spend limit", form, key_limit=form)


# --- Receipts --------------------------------------------------------------------------------


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
