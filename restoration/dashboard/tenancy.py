"""Which organization a dashboard request acts for, and what the signed-in member may do there.

A user may belong to several organizations; the one they picked is kept in the session. Every
view resolves it through ``accounts.selectors`` so a stale or forged session value can never
reach another tenant's data.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect

from accounts.models import Membership
from accounts.selectors import memberships_for_user
from config.errors import Forbidden, NotFound

SESSION_KEY = "dashboard_organization_id"
# allauth's login page; naming it here keeps the dashboard working whatever settings.LOGIN_URL says.
LOGIN_URL = "account_login"


def current_membership(request: HttpRequest) -> Membership | None:
    """The membership for the organization chosen in the session, else the oldest one."""
    memberships = list(memberships_for_user(request.user))
    request.memberships = memberships  # type: ignore[attr-defined]  # for the organization switcher
    if not memberships:
        return None
    chosen = request.session.get(SESSION_KEY)
    for membership in memberships:
        if str(membership.organization_id) == chosen:
            return membership
    membership = min(memberships, key=lambda m: (m.created_at, m.pk))
    request.session[SESSION_KEY] = str(membership.organization_id)
    return membership


def org_view(*, manage: bool = False) -> Callable:
    """Decorate a dashboard view: signed in, inside an organization, optionally owner/admin.

    Sets ``request.membership``, ``request.organization`` and ``request.memberships``. Another
    tenant's object (``config.errors.NotFound`` from a selector) becomes an HTTP 404 page.
    """

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @login_required(login_url=LOGIN_URL)
        @functools.wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            membership = current_membership(request)
            if membership is None:
                return redirect("dashboard:no_organization")
            if manage and not membership.can_manage:
                raise PermissionDenied("Only owners and admins of this organization can do that.")
            request.membership = membership  # type: ignore[attr-defined]
            request.organization = membership.organization  # type: ignore[attr-defined]
            try:
                return view(request, *args, **kwargs)
            except NotFound as exc:
                raise Http404(exc.message) from exc
            except Forbidden as exc:
                raise PermissionDenied(exc.message) from exc

        return wrapped

    return decorator
