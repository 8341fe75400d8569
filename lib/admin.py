"""Admin pieces every app's admin uses."""

from __future__ import annotations

from django.contrib import admin


class ReadOnlyModelAdmin(admin.ModelAdmin):
    """Rows that only the services write (ledger, payments, keys, moderation records): visible to
    staff, never added, edited or deleted by hand in the admin."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
