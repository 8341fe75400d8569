"""Restoration jobs, their logs, webhook deliveries and worker heartbeats."""

from __future__ import annotations

import uuid

from django.db import models

REQUEST_ID_PREFIX = "codeformer-image-restoration_"


class Job(models.Model):
    """One image to restore. Moves QUEUED -> PROCESSING -> COMPLETED | FAILED | ERROR (or CANCELED)."""

    class Status(models.TextChoices):
        QUEUED = "QUEUED", "Queued"
        PROCESSING = "PROCESSING", "Processing"
        COMPLETED = "COMPLETED", "Completed"
        FAILED = "FAILED", "Failed"
        ERROR = "ERROR", "Error"
        CANCELED = "CANCELED", "Canceled"

    TERMINAL = frozenset({Status.COMPLETED, Status.FAILED, Status.ERROR, Status.CANCELED})
    IN_FLIGHT = frozenset({Status.QUEUED, Status.PROCESSING})

    class Source(models.TextChoices):
        GATEWAY = "gateway", "Gateway API"
        DEMO = "demo", "Demo API"
        DASHBOARD = "dashboard", "Dashboard"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="jobs")
    api_key = models.ForeignKey(
        "accounts.ApiKey", null=True, blank=True, on_delete=models.SET_NULL, related_name="jobs"
    )
    created_by = models.ForeignKey("auth.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.GATEWAY)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True)
    model = models.CharField(max_length=40, default="codeformer")
    params = models.JSONField(default=dict)
    price = models.PositiveIntegerField()
    input_file = models.FileField(upload_to="inputs/", max_length=300, blank=True)
    input_name = models.CharField(max_length=255, blank=True, default="")
    input_url = models.URLField(max_length=2000, blank=True, default="")
    input_width = models.PositiveIntegerField(null=True, blank=True)
    input_height = models.PositiveIntegerField(null=True, blank=True)
    output_file = models.FileField(upload_to="outputs/", max_length=300, blank=True)
    output_width = models.PositiveIntegerField(null=True, blank=True)
    output_height = models.PositiveIntegerField(null=True, blank=True)
    faces_detected = models.PositiveIntegerField(null=True, blank=True)
    # What the customer reads (status object, webhooks, dashboard) and what only the operator
    # reads (admin, staff console): see jobs.failures.
    error = models.TextField(blank=True, default="")
    error_detail = models.TextField(blank=True, default="")
    webhook_url = models.URLField(max_length=2000, blank=True, default="")
    webhook_events = models.JSONField(default=list, blank=True)
    # Where the client reached us, so URLs in webhook bodies (sent later by a worker, with no
    # request at hand) are absolute even when PUBLIC_BASE_URL is not configured.
    base_url = models.CharField(max_length=300, blank=True, default="")
    idempotency_key = models.CharField(max_length=200, null=True, blank=True)  # noqa: DJ001 - NULL: no key; unique when set
    request_fingerprint = models.CharField(max_length=64, blank=True, default="")
    attempts = models.PositiveSmallIntegerField(default=0)
    # The gpu worker (WorkerHeartbeat.worker_id) that claimed the current attempt: the sweep
    # re-queues the job when that worker's heartbeat stops. Empty when claimed outside a worker.
    worker_id = models.CharField(max_length=100, blank=True, default="")
    # Set when sending the job's run message failed (Redis down or hung); the stale-job sweep
    # re-sends such jobs on its next pass and clears it.
    enqueue_failed_at = models.DateTimeField(null=True, blank=True)
    timings = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    files_purged_at = models.DateTimeField(null=True, blank=True)
    # Staff moderation: a removed job's files are deleted and its output is never served again.
    moderated_at = models.DateTimeField(null=True, blank=True)
    moderation_note = models.CharField(max_length=300, blank=True, default="")

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "idempotency_key"],
                condition=models.Q(idempotency_key__isnull=False),
                name="unique_job_idempotency_key",
            )
        ]
        indexes = [
            models.Index(fields=["organization", "status"]),
            models.Index(fields=["status", "started_at"]),
            models.Index(fields=["completed_at"]),
        ]

    def __str__(self) -> str:
        return self.request_id

    @property
    def request_id(self) -> str:
        return f"{REQUEST_ID_PREFIX}{self.id}"

    @property
    def model_id(self) -> str:
        return f"{self.model}-image-restoration"

    @property
    def is_terminal(self) -> bool:
        return self.status in self.TERMINAL


class JobLog(models.Model):
    """A progress line a client can read while the job runs."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="logs")
    message = models.CharField(max_length=500)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.message


class WebhookEndpoint(models.Model):
    """A URL of an organization that receives the events it subscribes to: the job events of
    every job of the organization (in addition to a request's own ``webhook``) and billing.*."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.CASCADE, related_name="webhook_endpoints"
    )
    url = models.URLField(max_length=2000)
    events = models.JSONField(default=list)  # names from jobs.endpoints.ENDPOINT_EVENTS
    description = models.CharField(max_length=200, blank=True, default="")
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return self.url

    def get_additional_data(self) -> dict:
        """What the audit trail (django-auditlog) files this object's entries under."""
        return {"organization_id": str(self.organization_id)}


class WebhookDelivery(models.Model):
    """One event to deliver to one URL, retried with back-off; each try is a WebhookAttempt.

    A job event has its ``job``; a billing.* or test event has none. ``endpoint`` is the webhook
    endpoint it was sent for (none for a request's own ``webhook``)."""

    class Event(models.TextChoices):
        """The job events, which a request's own ``webhook_events`` filter chooses from."""

        START = "start", "start"
        OUTPUT = "output", "output"
        LOGS = "logs", "logs"
        COMPLETED = "completed", "completed"

    TEST_EVENT = "test"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.CASCADE, related_name="webhook_deliveries"
    )
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="webhook_deliveries", null=True, blank=True)
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.SET_NULL, related_name="deliveries", null=True, blank=True
    )
    replay_of = models.ForeignKey("self", on_delete=models.SET_NULL, related_name="replays", null=True, blank=True)
    event = models.CharField(max_length=64)
    url = models.URLField(max_length=2000)
    payload = models.JSONField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempt_count = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "next_attempt_at"])]

    def __str__(self) -> str:
        return f"{self.event} -> {self.url} ({self.status})"

    @property
    def message_id(self) -> str:
        """A replay carries the original's id, so a receiver that already handled it can tell."""
        return f"msg_{(self.replay_of_id or self.id).hex}"


class WebhookAttempt(models.Model):
    """One try of a delivery: what was sent (body, headers; no secret is among them) and what
    came back (status, the start of the body, how long it took)."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempts")
    number = models.PositiveSmallIntegerField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True, default="")
    request_body = models.TextField(blank=True, default="")
    request_headers = models.JSONField(default=dict, blank=True)
    response_body = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["number"]
        constraints = [models.UniqueConstraint(fields=["delivery", "number"], name="unique_attempt_number")]

    def __str__(self) -> str:
        return f"attempt {self.number}: {self.status_code or self.error}"


class WorkerHeartbeat(models.Model):
    """Written by each worker process so the health endpoint can tell whether one is alive."""

    worker_id = models.CharField(max_length=100, unique=True)
    hostname = models.CharField(max_length=200)
    device = models.CharField(max_length=20)
    models_loaded = models.JSONField(default=list)
    seen_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.worker_id} ({self.device})"
