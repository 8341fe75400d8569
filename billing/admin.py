"""Admin for plans, prices, wallets and the ledger.

The ledger is read-only (no add, change or delete); wallet balances are read-only and move only
through the top-up action, which calls ``billing.services.wallet_topup``.
"""

from __future__ import annotations

import uuid

from django import forms
from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse

from billing.models import (
    BillingAccount,
    BillingAlert,
    KeySpendLimit,
    LedgerEntry,
    Payment,
    Plan,
    PlanPrice,
    PriceItem,
    StripeEvent,
    Wallet,
)
from billing.services import wallet_topup
from config.errors import ApplicationError
from lib.admin import ReadOnlyModelAdmin


class PlanPriceInline(admin.TabularInline):
    """The plan's own price table; codes it leaves out are charged at the list price (PriceItem)."""

    model = PlanPrice
    extra = 0


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin):
    list_display = [
        "code",
        "name",
        "requests_per_minute",
        "max_jobs_in_flight",
        "monthly_image_quota",
        "file_retention_hours",
        "monthly_price",
        "included_credit",
        "is_public",
        "is_default",
    ]
    inlines = [PlanPriceInline]


@admin.register(PriceItem)
class PriceItemAdmin(admin.ModelAdmin):
    list_display = ["code", "description", "amount"]


class TopUpForm(forms.Form):
    amount = forms.IntegerField(min_value=1, help_text="Minor units (cents).")
    description = forms.CharField(max_length=300, initial="Top-up by staff")
    # Rendered hidden: a double-submitted form posts the same key and tops up once.
    idempotency_key = forms.CharField(max_length=200, widget=forms.HiddenInput)


@admin.register(Wallet)
class WalletAdmin(admin.ModelAdmin):
    list_display = ["organization", "currency", "balance", "held", "available", "updated_at"]
    search_fields = ["organization__name", "organization__slug"]
    readonly_fields = ["organization", "currency", "balance", "held", "available", "updated_at"]
    actions = ["top_up"]

    def has_add_permission(self, request) -> bool:
        return False  # wallets come with their organization

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="available")
    def available(self, obj: Wallet) -> int:
        return obj.available

    @admin.action(description="Top up the selected wallet")
    def top_up(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one wallet to top up.", messages.ERROR)
            return None
        wallet = queryset.select_related("organization").get()
        if "apply" in request.POST:
            form = TopUpForm(request.POST)
            if form.is_valid():
                try:
                    entry = wallet_topup(
                        organization=wallet.organization,
                        amount=form.cleaned_data["amount"],
                        idempotency_key=form.cleaned_data["idempotency_key"],
                        description=form.cleaned_data["description"],
                        created_by=request.user,
                    )
                except ApplicationError as exc:
                    self.message_user(request, exc.message, messages.ERROR)
                else:
                    self.message_user(request, f"{wallet.organization}: balance now {entry.balance_after}.")
                return HttpResponseRedirect(request.get_full_path())
        else:
            form = TopUpForm(initial={"idempotency_key": f"admin-topup:{uuid.uuid4()}"})
        context = {
            **self.admin_site.each_context(request),
            "title": f"Top up {wallet.organization}",
            "wallet": wallet,
            "form": form,
            "opts": self.model._meta,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/billing/wallet/topup.html", context)


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyModelAdmin):
    list_display = [
        "created_at",
        "organization",
        "kind",
        "amount",
        "held_change",
        "balance_after",
        "held_after",
        "job",
        "idempotency_key",
    ]
    list_filter = ["kind"]
    search_fields = ["organization__name", "idempotency_key", "description"]
    list_select_related = ["organization", "job"]
    date_hierarchy = "created_at"


@admin.register(Payment)
class PaymentAdmin(ReadOnlyModelAdmin):
    list_display = ["created_at", "organization", "kind", "status", "amount", "credit", "amount_refunded", "currency"]
    list_filter = ["kind", "status"]
    search_fields = [
        "organization__name",
        "stripe_checkout_session_id",
        "stripe_payment_intent_id",
        "stripe_invoice_id",
    ]
    list_select_related = ["organization"]


@admin.register(StripeEvent)
class StripeEventAdmin(ReadOnlyModelAdmin):
    list_display = ["id", "type", "created", "deliveries", "processed_at", "outcome", "organization"]
    list_filter = ["type"]
    search_fields = ["id", "outcome"]


@admin.register(BillingAlert)
class BillingAlertAdmin(ReadOnlyModelAdmin):
    list_display = ["sent_at", "organization", "kind", "key", "message"]
    list_filter = ["kind"]


@admin.register(BillingAccount)
class BillingAccountAdmin(admin.ModelAdmin):
    """Details and controls are the customer's; staff may correct them. Stripe ids and the
    auto-recharge state are written by the payment flow only."""

    list_display = [
        "organization",
        "billing_name",
        "monthly_spend_limit",
        "auto_recharge_enabled",
        "subscription_status",
    ]
    search_fields = ["organization__name", "billing_name", "stripe_customer_id"]
    readonly_fields = [
        "organization",
        "stripe_customer_id",
        "stripe_subscription_id",
        "subscription_status",
        "subscription_event_at",
        "auto_recharge_failures",
        "auto_recharge_pending_since",
        "low_balance_alerted",
    ]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(KeySpendLimit)
class KeySpendLimitAdmin(admin.ModelAdmin):
    list_display = ["subscription", "monthly_limit"]
