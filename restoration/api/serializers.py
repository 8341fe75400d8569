"""Request and response bodies of both APIs. The request serializers validate; the response
serializers only document (the views answer plain dicts built by selectors)."""

from __future__ import annotations

import copy

from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers

from jobs.models import WebhookDelivery
from ml.options import MAX_UPSCALE, MIN_UPSCALE
from restoration.api.fields import (
    Base64TextField,
    ModelNameField,
    StrictBooleanField,
    StrictFloatField,
    StrictIntegerField,
)
from restoration.errors import UnknownFields

WEBHOOK_EVENTS = tuple(WebhookDelivery.Event.values)
DEMO_UPSCALES = (1, 2, 4)


# drf-spectacular documents a serializer by the first docstring it finds on the class or the
# project's classes it inherits from, so the public API reference reads these docstrings: every
# request serializer has its own, written for the API's users, and the notes below are comments.
#
# StrictSerializer refuses fields it does not declare, naming them, instead of ignoring a typo.
# Each instance gets a shallow copy of the declared fields where DRF deep-copies them (every field
# re-built from deep copies of its arguments, ~5% of an accepted submission's CPU). DRF copies so
# that an instance may modify its own fields; these request serializers never do. Each instance
# still has its own field objects, which ``bind()`` names and attaches to it; what the copies
# share (arguments, validators, a ListField's child) is only read. A nested serializer, which
# caches its own bound fields, is deep-copied as before.
class StrictSerializer(serializers.Serializer):
    def get_fields(self):
        return {
            name: copy.deepcopy(field) if isinstance(field, serializers.BaseSerializer) else copy.copy(field)
            for name, field in self._declared_fields.items()
        }

    def to_internal_value(self, data):
        if hasattr(data, "keys"):
            unknown = sorted(set(data.keys()) - set(self.fields))
            if unknown:
                allowed = ", ".join(sorted(self.fields))
                raise UnknownFields(f"Unknown field(s): {', '.join(unknown)}. Accepted fields: {allowed}.")
        return super().to_internal_value(data)


def model_field() -> serializers.CharField:
    return ModelNameField(
        default="codeformer",
        max_length=60,
        help_text="Restoration model: codeformer (default), gfpgan or restoreformer (the status object's "
        "model_id spelling, codeformer-image-restoration, is read as codeformer); only the models this "
        "deployment enables (ENABLED_MODELS) are served.",
    )


# --- gateway ---------------------------------------------------------------------------------


class GenerateParams(StrictSerializer):
    codeformer_fidelity = StrictFloatField(
        min_value=0.0,
        max_value=1.0,
        default=0.5,
        help_text="0-1. Lower = better visual quality, higher = closer to the input face.",
    )
    background_enhance = StrictBooleanField(default=True, help_text="Run Real-ESRGAN over the background.")
    face_upsample = StrictBooleanField(default=True, help_text="Re-upsample restored faces.")
    upscale = StrictIntegerField(
        min_value=MIN_UPSCALE, max_value=MAX_UPSCALE, default=2, help_text="Final upsampling factor, 1-8."
    )
    webhook = serializers.CharField(
        required=False,
        max_length=2000,
        help_text="Public http(s) URL to POST status events to (or use the X-Webhook-URL header).",
    )
    webhook_events_filter = serializers.ListField(
        child=serializers.ChoiceField(choices=WEBHOOK_EVENTS),
        required=False,
        allow_empty=False,
        help_text="Events to receive: start, output, logs, completed (default: all).",
    )
    model = model_field()


# The reference names request bodies <name>Request (COMPONENT_SPLIT_REQUEST), not <name>RequestRequest.
@extend_schema_serializer(component_name="GenerateJSON")
class GenerateJSONRequest(GenerateParams):
    """A restoration to queue, as JSON or form-encoded fields: the image as a public URL (`image`)
    or as base64 (`image_base64`), with its options. A field the API does not know is a 400 that
    names it."""

    # No max_length here: a data: URI in `image` is the picture itself (decoded as image_base64
    # is); a URL's 2000-character limit is checked where the two are told apart (gateway).
    image = serializers.CharField(
        required=False,
        help_text="Publicly fetchable http(s) URL of the image, at most 2000 characters (required unless "
        "image_base64 is given). A data: URI is accepted too, and read as image_base64.",
    )
    image_base64 = Base64TextField(
        required=False, help_text="The image as base64, with or without a data:image/...;base64, prefix."
    )


@extend_schema_serializer(component_name="GenerateMultipart")
class GenerateMultipartRequest(GenerateParams):
    """A restoration to queue, as multipart/form-data: the image as a file part (`image`), with
    its options as form fields."""

    image = serializers.FileField(help_text="The image file (PNG, JPEG, WEBP, BMP or TIFF).")


class GenerateAcceptedResponse(serializers.Serializer):
    request_id = serializers.CharField()
    status = serializers.CharField(
        help_text="QUEUED for a new request; a replayed Idempotency-Key answers the job's current status."
    )
    polling_url = serializers.URLField()


class StatusOutput(serializers.Serializer):
    media_url = serializers.ListField(child=serializers.URLField())
    media_type = serializers.CharField()


class StatusLog(serializers.Serializer):
    at = serializers.CharField()
    message = serializers.CharField()


class StatusTimings(serializers.Serializer):
    queue_wait_s = serializers.FloatField(allow_null=True)
    processing_s = serializers.FloatField(allow_null=True)
    stages = serializers.DictField(child=serializers.FloatField())


class StatusRetention(serializers.Serializer):
    expires_at = serializers.CharField(allow_null=True)
    files_deleted = serializers.BooleanField()


class StatusModeration(serializers.Serializer):
    action = serializers.ChoiceField(choices=["hidden", "removed"])
    message = serializers.CharField(help_text="Why, in words meant for the customer.")
    at = serializers.CharField()


class StatusCost(serializers.Serializer):
    currency = serializers.CharField(help_text="ISO 4217 code of the wallet's currency, as USD.")
    price = serializers.IntegerField(
        help_text="The request's price in minor units (cents); held while it is in flight."
    )
    charged = serializers.IntegerField(
        help_text="Minor units taken from the wallet when it completed; 0 while in flight and when it failed, "
        "errored or was canceled."
    )
    refunded = serializers.IntegerField(help_text="Minor units our staff gave back for it (0 unless refunded).")


class StatusResponse(serializers.Serializer):
    request_id = serializers.CharField()
    status = serializers.ChoiceField(choices=["QUEUED", "PROCESSING", "COMPLETED", "FAILED", "ERROR", "CANCELED"])
    model_id = serializers.CharField()
    error = serializers.CharField(allow_null=True)
    output = StatusOutput(allow_null=True)
    created_at = serializers.CharField()
    updated_at = serializers.CharField()
    completed_at = serializers.CharField(allow_null=True)
    logs = StatusLog(many=True)
    timings = StatusTimings()
    upscale_applied = serializers.IntegerField(
        allow_null=True,
        help_text="Once COMPLETED: the upscale the output was made with. It is lower than the one asked "
        "for only when the output-size cap forced it, and the charge is then the price of the upscale applied.",
    )
    retention = StatusRetention()
    moderation = StatusModeration(
        allow_null=True, help_text="Set when trust and safety hid or removed the files; null otherwise."
    )
    cost = StatusCost(help_text="What the request costs; what the wallet paid is charged less refunded.")


class RequestListItem(StatusResponse):
    polling_url = serializers.URLField()
    logs = None


class ErrorResponse(serializers.Serializer):
    error = serializers.CharField()
    message = serializers.CharField()


# --- demo ------------------------------------------------------------------------------------


class DemoParams(StrictSerializer):
    fidelity = StrictFloatField(min_value=0.0, max_value=1.0, default=0.5, help_text="Fidelity weight w, 0-1.")
    upscale = StrictIntegerField(min_value=1, max_value=4, choices=DEMO_UPSCALES, default=2, help_text="1, 2 or 4.")
    background_enhance = StrictBooleanField(default=False)
    face_upsample = StrictBooleanField(default=False)
    return_base64 = StrictBooleanField(default=False, help_text="Include each result as base64 in the answer.")
    model = model_field()


@extend_schema_serializer(component_name="DemoJSON")
class DemoJSONRequest(DemoParams):
    """A restoration done in this call, as JSON: one image (`image_base64`) or several
    (`images_base64`), with its options."""

    image_base64 = Base64TextField(required=False, help_text="One image as base64 (data URI prefix optional).")
    images_base64 = serializers.ListField(
        child=Base64TextField(), required=False, allow_empty=False, help_text="Several images as base64."
    )


@extend_schema_serializer(component_name="DemoMultipart")
class DemoMultipartRequest(DemoParams):
    """A restoration done in this call, as multipart/form-data: one or more image file parts
    (`image`), or one image as base64 in a form field, with its options."""

    image = serializers.ListField(child=serializers.FileField(), required=False, help_text="One or more image files.")
    image_base64 = Base64TextField(required=False, help_text="One image as base64, as a form field.")


class DemoResult(serializers.Serializer):
    original_name = serializers.CharField()
    filename = serializers.CharField()
    image_url = serializers.URLField()
    image_base64 = serializers.CharField(required=False, help_text="Only when return_base64 was true.")
    request_id = serializers.CharField()


class DemoSuccessResponse(serializers.Serializer):
    status = serializers.CharField(default="success")
    count = serializers.IntegerField()
    results = DemoResult(many=True)


class DemoErrorResponse(serializers.Serializer):
    status = serializers.CharField(default="error")
    message = serializers.CharField()


# --- health ----------------------------------------------------------------------------------


class HealthModel(serializers.Serializer):
    name = serializers.CharField()
    title = serializers.CharField()
    enabled = serializers.BooleanField()
    licence = serializers.CharField()
    commercial_use = serializers.BooleanField()
    sellable = serializers.BooleanField(
        help_text="Whether this deployment may serve the model: a non-commercial licence blocks it when "
        "payments are configured and no commercial permission is recorded."
    )
    licence_reason = serializers.CharField(help_text="Why the model is or is not sellable here.")
    weights_installed = serializers.BooleanField()
    missing_checkpoints = serializers.ListField(child=serializers.CharField())


class HealthWorker(serializers.Serializer):
    alive = serializers.BooleanField()
    last_seen_at = serializers.CharField(allow_null=True)


class HealthResponse(serializers.Serializer):
    status = serializers.CharField(
        help_text="online, or degraded when no worker is alive, enabled weights are missing, or the "
        "database or Redis is down."
    )
    device = serializers.CharField()
    database = serializers.ChoiceField(choices=["up", "down"], help_text="PostgreSQL (or SQLite) answers.")
    redis = serializers.ChoiceField(
        choices=["up", "down", "not configured"],
        help_text="The broker's Redis answers a ping (`not configured` on the embedded single-process default).",
    )
    queue_depth = serializers.IntegerField(allow_null=True, help_text="null while the database is down.")
    worker = HealthWorker()
    models = HealthModel(many=True)
