"""Read-mostly admin views of jobs, deliveries and heartbeats (state changes go through services)."""

from django.contrib import admin

from jobs.models import Job, JobLog, WebhookAttempt, WebhookDelivery, WorkerHeartbeat


class JobLogInline(admin.TabularInline):
    model = JobLog
    extra = 0
    can_delete = False
    readonly_fields = ["created_at", "message"]


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ["id", "organization", "status", "source", "price", "attempts", "created_at", "completed_at"]
    list_filter = ["status", "source", "model"]
    search_fields = ["id", "organization__name", "organization__slug", "idempotency_key"]
    raw_id_fields = ["organization", "api_key", "created_by"]
    readonly_fields = [f.name for f in Job._meta.fields]
    inlines = [JobLogInline]

    def has_add_permission(self, request):
        return False


class WebhookAttemptInline(admin.TabularInline):
    model = WebhookAttempt
    extra = 0
    can_delete = False
    readonly_fields = ["number", "status_code", "latency_ms", "error", "created_at"]


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = ["id", "organization", "job", "event", "status", "attempt_count", "next_attempt_at", "created_at"]
    list_filter = ["status", "event"]
    raw_id_fields = ["organization", "job"]
    readonly_fields = [f.name for f in WebhookDelivery._meta.fields]
    inlines = [WebhookAttemptInline]

    def has_add_permission(self, request):
        return False


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(admin.ModelAdmin):
    list_display = ["worker_id", "hostname", "device", "seen_at"]
    readonly_fields = ["worker_id", "hostname", "device", "models_loaded", "seen_at"]
