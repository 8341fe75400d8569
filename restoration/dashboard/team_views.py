"""Team pages: members and their roles, invitations, leaving, and the invitation link itself.

Views parse input and call ``accounts.services``; every rule (who may grant the owner role, the
last owner, existing members) is enforced there, and a broken rule comes back as a message with
nothing changed.
"""

from __future__ import annotations

from allauth.account import views as allauth_views
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone

from accounts import selectors as account_selectors
from accounts import services as account_services
from accounts.display import user_display
from accounts.forms import PENDING_INVITATION_SESSION_KEY
from accounts.models import Membership
from config.errors import ApplicationError, NotFound
from lib.base_url import public_base_url
from lib.http import require_POST
from restoration.dashboard import forms
from restoration.dashboard.tenancy import LOGIN_URL, SESSION_KEY, org_view


def _team_page(request: HttpRequest, form: forms.InviteForm, status: int = 200) -> HttpResponse:
    organization = request.organization
    members = list(account_selectors.members_for(organization))
    owners = [m for m in members if m.role == m.Role.OWNER]
    context = {
        "members": members,
        # The only owner can neither step down nor leave (someone must hold the organization):
        # their role is shown, not offered for change, and Leave says what to do instead.
        "sole_owner_id": owners[0].pk if len(owners) == 1 else None,
        "invitations": account_selectors.invitations_open_for(organization) if request.membership.can_manage else [],
        "form": form,
        "roles": forms.RoleForm.base_fields["role"].choices,
        "now": timezone.now(),
        "invitation_ttl_days": settings.INVITATION_TTL_DAYS,
    }
    return render(request, "dashboard/team.html", context, status=status)


@org_view()
def team(request: HttpRequest) -> HttpResponse:
    return _team_page(request, forms.InviteForm())


@org_view(manage=True)
@require_POST
def team_invite(request: HttpRequest) -> HttpResponse:
    form = forms.InviteForm(request.POST)
    if form.is_valid():
        try:
            invitation = account_services.invitation_create(
                actor=request.membership,
                email=form.cleaned_data["email"],
                role=form.cleaned_data["role"],
                base_url=public_base_url(request),
            )
        except ApplicationError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, f"Invitation sent to {invitation.email} ({invitation.get_role_display()}).")
            return redirect("dashboard:team")
    return _team_page(request, form, status=400)


def _apply(request: HttpRequest, action, success: str) -> HttpResponse:
    """Run a team service; a broken rule is shown on the team page, a foreign id is a 404."""
    try:
        action()
    except NotFound:
        raise
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, success)
    return redirect("dashboard:team")


@org_view(manage=True)
@require_POST
def team_invitation_revoke(request: HttpRequest, invitation_id) -> HttpResponse:
    invitation = account_selectors.invitation_get(request.organization, invitation_id)
    return _apply(
        request,
        lambda: account_services.invitation_revoke(actor=request.membership, invitation=invitation),
        f"The invitation to {invitation.email} was withdrawn; its link no longer works.",
    )


def _with_article(role: str) -> str:
    """ "a member", "an admin", "an owner": the role as a sentence names it."""
    label = dict(Membership.Role.choices).get(role, role).lower()
    return f"{'an' if label[:1] in 'aeiou' else 'a'} {label}"


@org_view(manage=True)
@require_POST
def team_member_role(request: HttpRequest, membership_id) -> HttpResponse:
    membership = account_selectors.member_get(request.organization, membership_id)
    role = request.POST.get("role", "")
    return _apply(
        request,
        lambda: account_services.membership_change_role(actor=request.membership, membership=membership, role=role),
        f"{user_display(membership.user)} is now {_with_article(role)}.",
    )


@org_view(manage=True)
@require_POST
def team_member_remove(request: HttpRequest, membership_id) -> HttpResponse:
    membership = account_selectors.member_get(request.organization, membership_id)
    return _apply(
        request,
        lambda: account_services.member_remove(actor=request.membership, membership=membership),
        f"{user_display(membership.user)} was removed from {request.organization.name}.",
    )


@org_view()
@require_POST
def team_leave(request: HttpRequest) -> HttpResponse:
    organization = request.organization
    try:
        account_services.organization_leave(membership=request.membership)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("dashboard:team")
    request.session.pop(SESSION_KEY, None)
    messages.success(request, f"You left {organization.name}.")
    return redirect("dashboard:home")


def pending_invitation(request: HttpRequest):
    """The open invitation this visitor followed (kept in the session until they sign up)."""
    token = request.session.get(PENDING_INVITATION_SESSION_KEY)
    invitation = account_selectors.invitation_for_token(token) if token else None
    return invitation if invitation is not None and invitation.is_open else None


class SignupView(allauth_views.SignupView):
    """allauth's sign-up, told about the invitation the visitor followed: the form drops the
    organization field and starts with the invited address; the page says whom they join."""

    def get_form_kwargs(self) -> dict:
        return {**super().get_form_kwargs(), "invitation": pending_invitation(self.request)}

    def get_context_data(self, **kwargs) -> dict:
        return {**super().get_context_data(**kwargs), "invitation": pending_invitation(self.request)}


def invitation_accept(request: HttpRequest, token: str) -> HttpResponse:
    """The link from the invitation mail. Shows the invitation; a visitor without a session is
    offered to sign up (the new account then joins instead of getting its own organization) or
    log in; a signed-in user accepts with a POST."""
    invitation = account_selectors.invitation_for_token(token)
    context = {"invitation": invitation, "token": token, "error": None}
    if not request.user.is_authenticated:
        if request.method == "POST":
            return redirect_to_login(request.get_full_path(), LOGIN_URL)
        if invitation is not None and invitation.is_open:
            request.session[PENDING_INVITATION_SESSION_KEY] = token
        return render(request, "dashboard/invitation.html", context, status=200 if invitation else 404)
    if request.method != "POST":
        return render(request, "dashboard/invitation.html", context, status=200 if invitation else 404)
    try:
        membership, joined = account_services.invitation_accept(token=token, user=request.user)
    except ApplicationError as exc:
        context["error"] = exc.message
        return render(request, "dashboard/invitation.html", context, status=exc.status_code)
    request.session.pop(PENDING_INVITATION_SESSION_KEY, None)
    request.session[SESSION_KEY] = str(membership.organization_id)
    if joined:
        messages.success(request, f"Welcome to {membership.organization.name}! You joined as {membership.role}.")
    else:
        messages.info(
            request, f"You were already in {membership.organization.name} as {membership.role}; your role is unchanged."
        )
    return redirect("dashboard:home")
