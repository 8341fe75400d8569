"""Staff roles are granted here; the queue itself is worked in the staff console, whose services
record every action (the admin shows items and actions read-only)."""

from __future__ import annotations

from django.contrib import admin

from lib.admin import ReadOnlyModelAdmin
from moderation.models import AbuseReport, BlockedHash, ModerationAction, ModerationItem, StaffMember


@admin.register(StaffMember)
class StaffMemberAdmin(admin.ModelAdmin):
    list_display = ["user", "role", "created_at"]
    list_filter = ["role"]
    search_fields = ["user__username", "user__email"]
    autocomplete_fields = ["user"]


@admin.register(ModerationItem)
class ModerationItemAdmin(ReadOnlyModelAdmin):
    list_display = ["id", "origin", "status", "organization", "request_id", "created_at"]
    list_filter = ["status", "origin"]
    search_fields = ["id", "request_id"]


@admin.register(ModerationAction)
class ModerationActionAdmin(ReadOnlyModelAdmin):
    list_display = ["item", "kind", "actor_username", "created_at"]
    list_filter = ["kind"]


@admin.register(AbuseReport)
class AbuseReportAdmin(ReadOnlyModelAdmin):
    list_display = ["reference", "category", "created_at"]
    search_fields = ["reference"]


@admin.register(BlockedHash)
class BlockedHashAdmin(ReadOnlyModelAdmin):
    list_display = ["pdq_hash", "reason", "added_by", "created_at"]
    search_fields = ["pdq_hash"]
