"""Admin for tenants and keys. Changes that matter (status, keys, secrets) go through services;
key digests are never editable and full keys are shown once, in the confirmation message."""

from __future__ import annotations

from django.contrib import admin, messages
from django.utils import timezone
from django.utils.html import format_html_join

from accounts import services
from accounts.models import ApiKey, Membership, Organization, Subscription
from lib.admin import ReadOnlyModelAdmin


class MembershipInline(admin.TabularInline):
    """Read-only here; members are added and removed on the Membership admin (through services)."""

    model = Membership
    extra = 0
    fields = ["user", "role", "created_at"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "status", "plan", "wallet_balance", "created_at"]
    list_filter = ["status", "plan"]
    search_fields = ["name", "slug", "id"]
    readonly_fields = ["id", "status", "webhook_secret_hint", "webhook_secret_rotated_at", "created_at"]
    fields = ["id", "name", "slug", "plan", "status", "webhook_secret_hint", "webhook_secret_rotated_at", "created_at"]
    inlines = [MembershipInline]
    actions = ["suspend", "reactivate", "rotate_webhook_secret", "issue_key_set"]

    def has_add_permission(self, request) -> bool:
        # An organization needs its wallet and secret: create it with `manage.py create_org`.
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("plan", "wallet")

    @admin.display(description="balance")
    def wallet_balance(self, obj: Organization) -> str:
        wallet = getattr(obj, "wallet", None)
        return "-" if wallet is None else f"{wallet.balance} ({wallet.held} held)"

    @admin.display(description="webhook secret")
    def webhook_secret_hint(self, obj: Organization) -> str:
        return f"{obj.webhook_secret[:10]}…" if obj.webhook_secret else "-"

    @admin.action(description="Suspend (keys answer 403)")
    def suspend(self, request, queryset):
        for organization in queryset:
            services.organization_set_status(organization=organization, status=Organization.Status.SUSPENDED)
        self.message_user(request, f"Suspended {queryset.count()} organization(s).")

    @admin.action(description="Reactivate")
    def reactivate(self, request, queryset):
        for organization in queryset:
            services.organization_set_status(organization=organization, status=Organization.Status.ACTIVE)
        self.message_user(request, f"Reactivated {queryset.count()} organization(s).")

    @admin.action(description="Rotate the webhook signing secret")
    def rotate_webhook_secret(self, request, queryset):
        for organization in queryset:
            services.webhook_secret_rotate(organization=organization)
        self.message_user(request, "Rotated; the previous secret keeps signing during the overlap window.")

    @admin.action(description="Issue a new key set (shown once)")
    def issue_key_set(self, request, queryset):
        for organization in queryset:
            name = f"admin-{timezone.now():%Y%m%d-%H%M%S}"
            subscription, keys = services.subscription_create(organization=organization, name=name)
            lines = format_html_join("", "<br>{}: <code>{}</code>", keys.items())
            self.message_user(
                request, format_html_join("", "{} / {}{}", [(organization, subscription.name, lines)]), messages.WARNING
            )


class ApiKeyInline(admin.TabularInline):
    model = ApiKey
    extra = 0
    fields = ["slot", "prefix", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    list_display = ["name", "organization", "created_at", "revoked_at"]
    list_filter = ["revoked_at"]
    search_fields = ["name", "organization__name", "keys__prefix"]
    readonly_fields = ["id", "organization", "created_at", "revoked_at"]
    inlines = [ApiKeyInline]
    actions = ["regenerate_primary", "regenerate_secondary", "revoke"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # revoke instead: the rows are the audit trail

    def _regenerate(self, request, queryset, slot: str):
        for subscription in queryset:
            key = services.api_key_regenerate(subscription=subscription, slot=slot)
            self.message_user(request, f"{subscription}: new {slot} key {key} (shown once)", messages.WARNING)

    @admin.action(description="Regenerate the primary key")
    def regenerate_primary(self, request, queryset):
        self._regenerate(request, queryset, ApiKey.Slot.PRIMARY)

    @admin.action(description="Regenerate the secondary key")
    def regenerate_secondary(self, request, queryset):
        self._regenerate(request, queryset, ApiKey.Slot.SECONDARY)

    @admin.action(description="Revoke (both keys answer 403)")
    def revoke(self, request, queryset):
        for subscription in queryset:
            services.subscription_revoke(subscription=subscription)
        self.message_user(request, f"Revoked {queryset.count()} subscription(s).")


@admin.register(ApiKey)
class ApiKeyAdmin(ReadOnlyModelAdmin):
    list_display = ["prefix", "slot", "subscription", "organization", "last_used_at", "revoked_at"]
    list_filter = ["slot", "revoked_at"]
    search_fields = ["prefix", "organization__name", "subscription__name"]
    exclude = ["digest"]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "organization", "role", "created_at"]
    list_filter = ["role"]
    search_fields = ["user__username", "user__email", "organization__name"]
    autocomplete_fields = ["user", "organization"]

    def save_model(self, request, obj, form, change):
        membership = services.membership_add(organization=obj.organization, user=obj.user, role=obj.role)
        obj.pk = membership.pk

    def delete_model(self, request, obj):
        services.membership_remove(membership=obj)

    def delete_queryset(self, request, queryset):
        for membership in queryset:
            services.membership_remove(membership=membership)
