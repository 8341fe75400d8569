"""Account forms: allauth's sign-up with the organization the new account will own."""

from __future__ import annotations

from allauth.account import forms as allauth_forms
from allauth.account.forms import SignupForm as AllauthSignupForm
from django import forms
from django.db import transaction

from accounts import services

# Set by the invitation page for a visitor who is not signed in yet.
PENDING_INVITATION_SESSION_KEY = "pending_invitation_token"


class SignupForm(AllauthSignupForm):
    organization_name = forms.CharField(
        max_length=200,
        required=False,
        label="Organization (optional)",
        help_text="Your company or project. Leave it empty to name it after you; you can invite teammates later.",
    )

    field_order = ["email", "organization_name", "password1", "password2"]

    def __init__(self, *args, invitation=None, **kwargs):
        """``invitation``: the open invitation the visitor followed here. The new account joins
        its organization instead of getting one, so there is no organization to name, and the
        address is the invited one (it must be verified to accept)."""
        super().__init__(*args, **kwargs)
        self.invitation = invitation
        if invitation is not None:
            self.fields.pop("organization_name", None)
            if not self.is_bound:
                self.fields["email"].initial = invitation.email

    def save(self, request):
        # The user, their email address and their organization exist together or not at all.
        with transaction.atomic():
            user = super().save(request)
            services.signup_complete(
                user=user,
                organization_name=self.cleaned_data.get("organization_name", ""),
                invitation_token=request.session.get(PENDING_INVITATION_SESSION_KEY, ""),
            )
        return user


class SentenceCaseLabels:
    """Relabel allauth's Title Case fields ("Remember Me", "New Password") in the dashboard's
    sentence case; the placeholder follows the label where allauth repeats it."""

    labels: dict[str, str] = {}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, label in self.labels.items():
            field = self.fields.get(name)
            if field is None:
                continue
            if field.widget.attrs.get("placeholder") == field.label:
                field.widget.attrs["placeholder"] = label
            field.label = label


class LoginForm(SentenceCaseLabels, allauth_forms.LoginForm):
    labels = {"login": "Email address", "remember": "Remember me"}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # People sign up with an address; the username (still accepted) is for older accounts.
        self.fields["login"].widget.attrs["placeholder"] = "you@example.com"


class ChangePasswordForm(SentenceCaseLabels, allauth_forms.ChangePasswordForm):
    labels = {"oldpassword": "Current password", "password1": "New password", "password2": "New password (again)"}


class SetPasswordForm(SentenceCaseLabels, allauth_forms.SetPasswordForm):
    labels = {"password2": "Password (again)"}


class ResetPasswordKeyForm(SentenceCaseLabels, allauth_forms.ResetPasswordKeyForm):
    labels = {"password1": "New password", "password2": "New password (again)"}
