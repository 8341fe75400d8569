"""Dashboard forms: input parsing only; the writes happen in services."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal

from django import forms
from django.conf import settings

from accounts.models import Membership
from restoration.dashboard import playground
from restoration.licensing import offered_models


class MoneyField(forms.DecimalField):
    """An amount typed in the currency's major unit (``12.50``), cleaned to integer minor units
    (``1250``) for the services; an initial value in minor units is shown the same way. Customers
    never see or type cents-as-integers."""

    def __init__(self, **kwargs):
        kwargs.setdefault("min_value", Decimal("0"))
        kwargs.setdefault("max_digits", 12)
        kwargs.setdefault("decimal_places", 2)
        super().__init__(**kwargs)

    # What people type for money: an optional sign and currency symbol, digits with or without
    # thousands commas, and cents. Not 1e3, not NaN: those are numbers, not amounts.
    # ASCII digits only: a digit of another script (U+0665, ARABIC-INDIC FIVE) is not read as one.
    TYPED = re.compile(r"^\s*([+-]?)\s*[$€£]?\s*([+-]?)\s*(\d{1,3}(?:,\d{3})+|\d+)(\.\d*)?\s*$", re.ASCII)

    def to_python(self, value):
        if isinstance(value, str) and value.strip():
            match = self.TYPED.match(value)
            if match is None or (match.group(1) and match.group(2)):
                raise forms.ValidationError("Enter an amount such as 12.50 (a $ and commas are fine).", code="invalid")
            sign = "-" if "-" in (match.group(1) + match.group(2)) else ""
            value = f"{sign}{match.group(3).replace(',', '')}{match.group(4) or ''}"
        return super().to_python(value)

    def prepare_value(self, value):
        if isinstance(value, int) and not isinstance(value, bool):
            return f"{Decimal(value) / 100:.2f}"
        return super().prepare_value(value)

    widget = forms.TextInput  # a number input would drop a typed "$" or comma to an empty value

    def widget_attrs(self, widget):
        attrs = super().widget_attrs(widget)
        attrs.pop("step", None)
        attrs.update(inputmode="decimal", autocomplete="off")
        return attrs

    def clean(self, value):
        amount = super().clean(value)
        if amount is None:
            return None
        return int((amount * 100).quantize(Decimal("1"), rounding=ROUND_HALF_UP))


class OrganizationForm(forms.Form):
    name = forms.CharField(max_length=200, label="Organization name")


class SubscriptionForm(forms.Form):
    name = forms.CharField(max_length=100, label="Key name", help_text="e.g. production, staging, laptop")


UPSCALE_CHOICES = [(n, f"{n}\u00d7") for n in (1, 2, 3, 4, 6, 8)]


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleImageField(forms.FileField):
    """Several files from one ``<input type=file multiple>``; an empty selection is allowed here,
    the form decides which source is required."""

    widget = MultipleFileInput

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("required", False)
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        files = data if isinstance(data, list | tuple) else ([data] if data else [])
        return [super(MultipleImageField, self).clean(item, initial) for item in files]


class RestoreForm(forms.Form):
    """The playground. The photo comes from exactly one source: files, a URL, a sample, the
    input of an earlier job ("run again") or the photo kept from a refused submission."""

    images = MultipleImageField(
        label="Photos",
    )
    image_url = forms.CharField(
        required=False,
        max_length=2000,
        label="…or an image URL",
        widget=forms.URLInput(attrs={"placeholder": "https://example.com/photo.jpg", "inputmode": "url"}),
    )
    sample = forms.ChoiceField(required=False, choices=())
    rerun = forms.CharField(required=False, max_length=120, widget=forms.HiddenInput)
    kept = forms.CharField(required=False, max_length=64, widget=forms.HiddenInput)
    model = forms.ChoiceField(choices=())
    fidelity = forms.FloatField(
        min_value=0.0,
        max_value=1.0,
        initial=0.5,
        widget=forms.NumberInput(attrs={"type": "range", "min": "0", "max": "1", "step": "0.05"}),
        help_text="Low (0) restores most strongly: the cleanest, most detailed face, which may drift from the "
        "person's exact features. High (1) stays closest to the input face, with less repair.",
    )
    upscale = forms.TypedChoiceField(
        choices=UPSCALE_CHOICES, coerce=int, initial=2, widget=forms.RadioSelect, label="Upscale"
    )
    background_enhance = forms.BooleanField(
        required=False,
        initial=True,
        label="Enhance the background",
        help_text="Real-ESRGAN upscales and sharpens everything around the faces (costs more).",
    )
    face_upsample = forms.BooleanField(
        required=False,
        initial=True,
        label="Upsample restored faces",
        help_text="Runs the restored faces through the upscaler too, for crisper faces on large outputs.",
    )

    def __init__(self, *args, samples: list[str] | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        offered = offered_models()
        self.fields["model"].choices = [(name, name) for name in offered]
        self.fields["model"].initial = offered[0] if offered else None
        self.fields["sample"].choices = [("", "—")] + [(name, name) for name in samples or []]
        # The formats and size limit the server checks (restoration.intake), read when the form is made.
        self.fields["images"].help_text = (
            f"{playground.formats_text()}, up to {playground.upload_limit_text()} each, with one or more faces; "
            f"up to {settings.MAX_IMAGES_PER_REQUEST} at once."
        )
        self.fields["images"].widget.attrs.update({"accept": playground.accept_attribute(), "multiple": True})

    def clean_images(self):
        files = self.cleaned_data.get("images") or []
        if len(files) > settings.MAX_IMAGES_PER_REQUEST:
            raise forms.ValidationError(f"Choose at most {settings.MAX_IMAGES_PER_REQUEST} photos at once.")
        return files

    def clean_image_url(self) -> str:
        url = (self.cleaned_data.get("image_url") or "").strip()
        if url and not url.lower().startswith(("http://", "https://")):
            raise forms.ValidationError("Enter an http(s) URL of an image.")
        return url

    def clean(self):
        data = super().clean()
        given = [name for name in ("images", "image_url", "sample") if data.get(name)]
        if len(given) > 1:
            raise forms.ValidationError("Choose photos, a URL or a sample — one of them, not several.")
        # A source that was given but refused has its own error already ("Enter an http(s) URL").
        refused = any(name in self.errors for name in ("images", "image_url", "sample"))
        if not given and not refused and not data.get("rerun") and not data.get("kept"):
            raise forms.ValidationError("Choose a photo: drop one here, pick a file, paste a URL or try a sample.")
        return data


class InviteForm(forms.Form):
    email = forms.EmailField(max_length=254, label="Email address")
    role = forms.ChoiceField(choices=Membership.Role.choices, initial=Membership.Role.MEMBER)


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Membership.Role.choices)


class TopUpForm(forms.Form):
    """A preset amount (minor units) or a custom one in major units, within TOPUP_MIN/MAX_AMOUNT."""

    amount = forms.TypedChoiceField(choices=(), coerce=int, required=False, widget=forms.RadioSelect)
    custom_amount = forms.DecimalField(
        required=False, min_value=0, decimal_places=2, max_digits=12, label="or another amount"
    )

    def __init__(self, *args, currency: str = "USD", **kwargs) -> None:
        from restoration.templatetags.dashboard_tags import money

        super().__init__(*args, **kwargs)
        self.fields["amount"].choices = [(v, money(v, currency)) for v in settings.TOPUP_PRESETS]
        presets = settings.TOPUP_PRESETS
        self.fields["amount"].initial = presets[min(1, len(presets) - 1)] if presets else None
        low, high = settings.TOPUP_MIN_AMOUNT, settings.TOPUP_MAX_AMOUNT
        self.fields["custom_amount"].help_text = f"Between {money(low, currency)} and {money(high, currency)}."

    def clean(self):
        data = super().clean()
        custom = data.get("custom_amount")
        if custom is not None:
            minor = int(custom * 100)
            low, high = settings.TOPUP_MIN_AMOUNT, settings.TOPUP_MAX_AMOUNT
            if not low <= minor <= high:
                raise forms.ValidationError(f"Choose an amount between {low / 100:.2f} and {high / 100:.2f}.")
            data["amount"] = minor
        elif not data.get("amount"):
            raise forms.ValidationError("Choose an amount.")
        return data


class WalletForm(forms.Form):
    """A settings form of the wallet page. The page is long and these forms sit far down it, so
    when one comes back with errors its first bad field takes the focus (the browser scrolls to
    it); Django marks each bad field ``aria-invalid`` and points ``aria-describedby`` at its error."""

    def full_clean(self) -> None:
        super().full_clean()
        for name in self.errors:
            if name in self.fields:
                self.fields[name].widget.attrs["autofocus"] = True
                break

    def error_labels(self) -> list[str]:
        """The human labels of the fields with errors, in form order."""
        return [str(field.label) for field in self if field.errors]


class CountryField(forms.ChoiceField):
    """A country chosen by name, cleaned to its ISO 3166-1 alpha-2 code (``DE``). A code sent in
    lower case is taken as the same code; anything that is not a code is an error, never cut
    down to two letters."""

    def __init__(self, **kwargs) -> None:
        from django_countries import countries

        kwargs.setdefault("choices", lambda: [("", "—")] + [(c.code, c.name) for c in countries])
        kwargs.setdefault(
            "error_messages",
            {"invalid_choice": "Choose the country from the list; “%(value)s” is not a country code we know."},
        )
        super().__init__(**kwargs)

    def to_python(self, value) -> str:
        value = super().to_python(value).strip()
        return value.upper() if len(value) == 2 else value


class BillingDetailsForm(WalletForm):
    billing_name = forms.CharField(max_length=200, required=False, label="Name on receipts")
    billing_email = forms.EmailField(
        max_length=254, required=False, label="Billing email", help_text="Also receives billing notices."
    )
    address_line1 = forms.CharField(max_length=200, required=False, label="Address")
    address_line2 = forms.CharField(max_length=200, required=False, label="Address (line 2)")
    postal_code = forms.CharField(max_length=20, required=False)
    city = forms.CharField(max_length=100, required=False)
    country = CountryField(required=False)
    tax_id = forms.CharField(max_length=50, required=False, label="Tax ID")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # The form before this one took any two letters ("UK"). Such a code is shown as it was
        # saved, not as "—" (which a re-save would store without a word); sent back unchanged
        # it is refused at the field like any code that is not a country's.
        stored = str(self.initial.get("country") or "").upper()
        field = self.fields["country"]
        if stored and stored not in {code for code, _ in field.choices}:
            field.choices = [*field.choices, (stored, f"{stored} (not a country code: choose the country)")]
            self.initial["country"] = stored


class SpendControlsForm(WalletForm):
    """Amounts typed in dollars; cleaned to minor units (cents)."""

    monthly_spend_limit = MoneyField(
        required=False,
        label="Monthly spend limit ($)",
        help_text="In dollars, e.g. 50 or 12.50. Empty: no limit; 0 stops every new restoration.",
    )
    spend_alert_percents = forms.RegexField(
        regex=r"^\s*(\d{1,3}\s*(,\s*\d{1,3}\s*)*)?$",
        max_length=50,
        required=False,
        initial="80,100",
        label="Alert at (% of the limit)",
        help_text="Percentages of the limit that send an alert, e.g. 80,100.",
        error_messages={"invalid": "Enter whole percentages separated by commas, e.g. 80,100."},
    )
    low_balance_threshold = MoneyField(
        required=False,
        label="Low balance alert under ($)",
        help_text="Alert when the available balance falls under this many dollars. Empty: no alert.",
    )
    # billing.* events go to the webhook endpoints subscribed to them (the Webhooks page).


class AutoRechargeForm(WalletForm):
    """Amounts typed in dollars; cleaned to minor units (cents)."""

    enabled = forms.BooleanField(required=False, label="Recharge automatically")
    threshold = MoneyField(
        initial=1000, label="Threshold ($)", help_text="When the available balance falls under this many dollars"
    )
    amount = MoneyField(initial=2500, label="Amount ($)", help_text="charge the saved card this much")
    monthly_cap = MoneyField(initial=10000, label="Monthly cap ($)", help_text="at most this much a month.")

    def __init__(self, *args, **kwargs) -> None:
        # Its own ids: the top-up form on the same page has an "amount" field too.
        kwargs.setdefault("auto_id", "id_recharge_%s")
        super().__init__(*args, **kwargs)


class KeySpendLimitForm(WalletForm):
    """One key set's row of the wallet page (its input is written in the template)."""

    subscription = forms.UUIDField(label="Key set")
    monthly_limit = MoneyField(required=False, label="Monthly limit ($)", help_text="In dollars; empty removes it.")


class WebhookEndpointForm(forms.Form):
    url = forms.URLField(max_length=2000, label="Endpoint URL", assume_scheme="https")
    events = forms.MultipleChoiceField(
        widget=forms.CheckboxSelectMultiple,
        label="Events",
        help_text="Job events of every job of the organization, and billing events.",
    )
    description = forms.CharField(max_length=200, required=False, label="Description")
    enabled = forms.BooleanField(required=False, initial=True, label="Enabled")

    EVENT_HELP = {
        "start": "start: a job began processing",
        "output": "output: a result is ready",
        "logs": "logs: a job wrote a log line",
        "completed": "completed: a job reached its final status",
        "billing.balance_low": "billing.balance_low: the available balance fell under your alert threshold",
        "billing.spend_limit": "billing.spend_limit: this month's spend reached an alert share of the limit",
        "billing.payment_received": "billing.payment_received: a payment was credited to the wallet",
        "billing.payment_failed": "billing.payment_failed: a payment or auto-recharge failed",
        "billing.auto_recharge_disabled": "billing.auto_recharge_disabled: auto-recharge turned itself off",
    }
    CARD_EVENTS = frozenset({"billing.payment_received", "billing.payment_failed", "billing.auto_recharge_disabled"})
    NO_CARDS = " (card payments are not set up on this deployment)"

    def __init__(self, *args, **kwargs) -> None:
        from billing.payments.client import is_enabled as card_payments_enabled
        from jobs.endpoints import endpoint_events

        super().__init__(*args, **kwargs)
        # Offered even without card payments (an endpoint outlives a deployment's set-up), but
        # marked: those events cannot happen until payments are switched on.
        cards = card_payments_enabled()
        self.fields["events"].choices = [
            (
                event,
                self.EVENT_HELP.get(event, event) + ("" if cards or event not in self.CARD_EVENTS else self.NO_CARDS),
            )
            for event in endpoint_events()
        ]
