"""Dashboard forms: input parsing only; the writes happen in services."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import UserCreationForm

from accounts.models import Membership

User = get_user_model()


class SignUpForm(UserCreationForm):
    email = forms.EmailField(required=True)
    organization_name = forms.CharField(
        max_length=200, label="Organization", help_text="Your company or project; you can invite teammates later."
    )

    class Meta(UserCreationForm.Meta):
        model = User
        fields = ("username", "email")

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip().lower()
        if User.objects.filter(email__iexact=email).exists():
            raise forms.ValidationError("An account with this email already exists.")
        return email


class OrganizationForm(forms.Form):
    name = forms.CharField(max_length=200, label="Organization name")


class SubscriptionForm(forms.Form):
    name = forms.CharField(max_length=100, label="Key name", help_text="e.g. production, staging, laptop")


class RestoreForm(forms.Form):
    image = forms.FileField(label="Photo", help_text="JPEG, PNG or WebP with one or more faces.")
    model = forms.ChoiceField(choices=())
    fidelity = forms.FloatField(
        min_value=0.0,
        max_value=1.0,
        initial=0.5,
        help_text="Lower values restore more aggressively, higher values stay closer to the input.",
    )
    upscale = forms.TypedChoiceField(choices=[(n, f"{n}x") for n in (1, 2, 3, 4, 6, 8)], coerce=int, initial=2)
    background_enhance = forms.BooleanField(required=False, initial=True, label="Enhance the background")
    face_upsample = forms.BooleanField(required=False, initial=True, label="Upsample restored faces")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["model"].choices = [(name, name) for name in settings.ENABLED_MODELS]
        self.fields["model"].initial = settings.ENABLED_MODELS[0] if settings.ENABLED_MODELS else None
        self.fields["image"].widget.attrs["accept"] = "image/png,image/jpeg,image/webp"


class TeamAddForm(forms.Form):
    identifier = forms.CharField(max_length=254, label="Username or email")
    role = forms.ChoiceField(choices=Membership.Role.choices, initial=Membership.Role.MEMBER)

    def clean_identifier(self):
        identifier = self.cleaned_data["identifier"].strip()
        field = "email__iexact" if "@" in identifier else "username"
        user = User.objects.filter(**{field: identifier}).order_by("pk").first()
        if user is None:
            raise forms.ValidationError("No user with that username or email. Ask them to sign up first.")
        return user


TOPUP_CHOICES = [(1000, "$10"), (2500, "$25"), (5000, "$50"), (10000, "$100"), (25000, "$250")]


class TopUpForm(forms.Form):
    amount = forms.TypedChoiceField(choices=TOPUP_CHOICES, coerce=int, initial=2500, widget=forms.RadioSelect)
