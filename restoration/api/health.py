"""``GET /api/health``: public, cheap, and honest about what would make a request fail."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from jobs.selectors import iso_ms, queue_depth, worker_status
from ml.weights import MODELS, missing_checkpoints, weights_status
from restoration.api.base import JSONErrorsAPIView
from restoration.api.docs import demo_errors
from restoration.api.serializers import HealthResponse
from restoration.licensing import licence_state


class HealthView(JSONErrorsAPIView):
    authentication_classes: list = []
    permission_classes: list = []
    error_style = "demo"

    @extend_schema(
        operation_id="demo_health",
        summary="Service health",
        description="`online` when a worker has been seen recently and every enabled model's weights are "
        "installed, else `degraded` (still answered with 200). `device` is the worker's compute device.",
        tags=["Demo API"],
        auth=[],
        responses={200: OpenApiResponse(HealthResponse, description="The service's state."), **demo_errors(500)},
    )
    def get(self, request: Request) -> Response:
        worker = worker_status()
        models = model_states()
        ready = worker["alive"] and all(m["weights_installed"] for m in models if m["enabled"] and m["sellable"])
        body = {
            "status": "online" if ready else "degraded",
            "device": worker["device"] or ("cpu" if settings.ML_DEVICE == "cpu" else "unknown"),
            "queue_depth": queue_depth(),
            "worker": {"alive": worker["alive"], "last_seen_at": iso_ms(worker["last_seen_at"])},
            "models": models,
        }
        return Response(body)


def model_states() -> list[dict]:
    """Each known model (and any enabled name we do not know) with its licence and weights."""
    checkpoints = weights_status(settings.WEIGHTS_DIR)
    states = []
    for name, spec in MODELS.items():
        missing = missing_checkpoints(spec, checkpoints)
        licence = licence_state(name)
        states.append(
            {
                "name": name,
                "title": spec.title,
                "enabled": name in settings.ENABLED_MODELS,
                "licence": spec.licence,
                "commercial_use": spec.commercial_use,
                "sellable": licence.sellable,
                "licence_reason": licence.reason,
                "weights_installed": not missing,
                "missing_checkpoints": missing,
            }
        )
    for name in settings.ENABLED_MODELS:
        if name not in MODELS:
            states.append(
                {
                    "name": name,
                    "title": name,
                    "enabled": True,
                    "licence": "unknown",
                    "commercial_use": False,
                    "sellable": False,
                    "licence_reason": "Unknown model: no licence on record.",
                    "weights_installed": False,
                    "missing_checkpoints": [],
                }
            )
    return states
