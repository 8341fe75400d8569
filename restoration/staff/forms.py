from __future__ import annotations

from django import forms
from django.conf import settings

from billing.money import format_money
from restoration.dashboard.forms import MoneyField


class WalletAdjustForm(forms.Form):
    # Typed in dollars like every amount a person types here, cleaned to minor units.
    amount = MoneyField(
        min_value=None,
        label="Amount ($)",
        help_text="Signed, in dollars: 5.00 credits $5.00, -5.00 debits it.",
    )
    reason = forms.CharField(max_length=300, help_text="Shown in the customer's ledger; required.")
    # Minted when the form is shown, so a double submit adjusts once.
    token = forms.UUIDField(widget=forms.HiddenInput)

    def clean_amount(self) -> int:
        amount = self.cleaned_data["amount"]
        if amount == 0:
            raise forms.ValidationError("An adjustment cannot be zero.")
        if abs(amount) > settings.STAFF_ADJUSTMENT_MAX:
            limit = format_money(settings.STAFF_ADJUSTMENT_MAX)
            raise forms.ValidationError(
                f"An adjustment is at most {limit} either way (STAFF_ADJUSTMENT_MAX). A larger credit "
                "comes as a payment; an operator can raise the limit."
            )
        return amount

    def clean_reason(self) -> str:
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError("Say why the wallet is adjusted.")
        return reason


class PlanChangeForm(forms.Form):
    plan = forms.ModelChoiceField(queryset=None, empty_label=None)
    # Required like every other staff change of an organization: the trail keeps why.
    reason = forms.CharField(max_length=300, error_messages={"required": "Say why: a plan change records a reason."})

    def __init__(self, *args, **kwargs) -> None:
        from billing.models import Plan

        # Its own ids: the adjustment form on the same page has a "reason" too.
        kwargs.setdefault("auto_id", "id_plan_%s")
        super().__init__(*args, **kwargs)
        self.fields["plan"].queryset = Plan.objects.order_by("position", "id")
