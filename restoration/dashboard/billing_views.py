"""The customer's billing pages: plan, billing details, spend controls, receipts."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from billing.plans import plan_choose
from config.errors import ApplicationError
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
