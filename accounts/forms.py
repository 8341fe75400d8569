"""Account forms: allauth's sign-up with the organization the new account will own."""

from __future__ import annotations

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
