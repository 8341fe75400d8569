from __future__ import annotations

from django import forms

from moderation.models import AbuseReport


class ActionForm(forms.Form):
    reason = forms.CharField(max_length=1000, help_text="Why (kept in the record; staff only).")
    customer_message = forms.CharField(
        max_length=300, required=False, help_text="What the customer reads on the job (optional)."
    )


class FlagForm(forms.Form):
    reason = forms.CharField(max_length=1000)


class BlocklistAddForm(forms.Form):
    pdq_hash = forms.CharField(max_length=80, label="PDQ hash (64 hex digits)")
    reason = forms.CharField(max_length=300)


class BlocklistImportForm(forms.Form):
    file = forms.FileField(help_text="One hash per line (or CSV with the hash first); # starts a comment.")
    reason = forms.CharField(max_length=300)

    MAX_BYTES = 2 * 1024 * 1024

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > self.MAX_BYTES:
            raise forms.ValidationError("The file is larger than 2 MB.")
        try:
            return upload.read().decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise forms.ValidationError("The file is not UTF-8 text.") from exc


class AbuseReportForm(forms.Form):
    target = forms.CharField(
        max_length=2000, label="Result URL or request id", help_text="The link to the image, or its request id."
    )
    category = forms.ChoiceField(choices=AbuseReport.Category.choices, label="What is wrong")
    details = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), max_length=4000, required=False)
    contact_email = forms.EmailField(required=False, label="Your email (optional)")
    answer = forms.CharField(max_length=10, label="Anti-robot question")
    challenge = forms.CharField(widget=forms.HiddenInput, max_length=500)
    # A honeypot: hidden from people by CSS, filled in by form-stuffing bots.
    website = forms.CharField(required=False, max_length=200, label="Leave this empty")
