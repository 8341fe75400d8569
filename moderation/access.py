"""Who may use the staff console, and what they may do there.

Staff status is required for every staff page. A visitor who is not signed in goes to the login
page (staff sign in there too); a signed-in account without staff rights gets a 404, so the
console does not confirm it exists to customers (and there is no login loop). Inside staff, *support* reads and flags and
*admins* also hide, delete, refund and suspend. With ``settings.STAFF_REQUIRE_2FA`` (on by default
outside DEBUG) the session must have passed an allauth.mfa second factor.
"""

from __future__ import annotations

import functools

from django.apps import apps
from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest
from django.shortcuts import render, resolve_url

from moderation.errors import StaffRoleRequired
from moderation.models import StaffMember

STAFF_SIGN_IN_SESSION_KEY = "staff_console_signed_in"
LOGIN_URL = "account_login"


def is_staff(user) -> bool:
    return bool(user and user.is_authenticated and user.is_active and user.is_staff)


def staff_role(user) -> str | None:
    """``admin``, ``support``, or None for someone who is not staff."""
    if not is_staff(user):
        return None
    if user.is_superuser:
        return StaffMember.Role.ADMIN
    member = StaffMember.objects.filter(user=user).only("role").first()
    return member.role if member else StaffMember.Role.SUPPORT


def is_staff_admin(user) -> bool:
    return staff_role(user) == StaffMember.Role.ADMIN


def require_staff_admin(user) -> None:
    if not is_staff_admin(user):
        raise StaffRoleRequired()


def session_passed_mfa(request: HttpRequest) -> bool:
    """Whether this session signed in with a second factor: allauth records each authentication
    of the session (password, then "mfa" once the TOTP or recovery code was accepted)."""
    if not apps.is_installed("allauth.mfa"):
        return False  # no second factor can have been checked
    from allauth.account.authentication import get_authentication_records

    records = get_authentication_records(request, request.user)
    return any(record.get("method") == "mfa" for record in records)


def staff_view(view=None, *, admin: bool = False):
    """Staff only (404 to others), with a second factor where required; ``admin=True`` also
    requires the admin role (403 for support)."""
    if view is None:
        return functools.partial(staff_view, admin=admin)

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path(), resolve_url(LOGIN_URL))
        if not is_staff(request.user):
            raise Http404("No such page.")
        if settings.STAFF_REQUIRE_2FA and not session_passed_mfa(request):
            return render(request, "moderation/staff_2fa_required.html", status=403)
        _note_console_sign_in(request)
        if admin and not is_staff_admin(request.user):
            return render(request, "moderation/staff_forbidden.html", status=403)
        request.staff_role = staff_role(request.user)
        return view(request, *args, **kwargs)

    return wrapper


def _note_console_sign_in(request: HttpRequest) -> None:
    """The first staff page a session opens is its sign-in to the console: one audit entry."""
    if request.session.get(STAFF_SIGN_IN_SESSION_KEY):
        return
    from moderation.audit import staff_console_sign_in_record

    staff_console_sign_in_record(user=request.user)
    request.session[STAFF_SIGN_IN_SESSION_KEY] = True
