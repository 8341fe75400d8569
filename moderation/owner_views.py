"""What an organization's owners read of the audit trail: the entries about their organization."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from accounts.models import Membership
from moderation.audit import audit_entries_for_organization, audit_rows
from restoration.dashboard.tenancy import org_view


@org_view()
def organization_audit(request: HttpRequest) -> HttpResponse:
    if request.membership.role != Membership.Role.OWNER:
        raise PermissionDenied("Only the organization's owners can read its audit trail.")
    page = Paginator(audit_entries_for_organization(request.organization), 50).get_page(request.GET.get("page"))
    context = {"page": page, "rows": audit_rows(page, for_owner=True)}
    return render(request, "moderation/organization_audit.html", context)
