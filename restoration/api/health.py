"""``GET /api/health``: public, cheap, and honest about what would make a request fail."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import InterfaceError, OperationalError
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from config.errors import DatabaseUnavailable
from jobs.selectors import broker_status, iso_ms, queue_depth, worker_status
from ml.weights import MODELS, missing_checkpoints, weights_status
from restoration.api.base import JSONErrorsAPIView
from restoration.api.docs import demo_errors
from restoration.api.serializers import HealthResponse
from restoration.licensing import licence_state

logger = logging.getLogger(__name__)


class HealthView(JSONErrorsAPIView):
    authentication_classes: list = []
    permission_classes: list = []
    error_style = "demo"

    @extend_schema(
        operation_id="demo_health",
        summary="Service health",
        description="`online` when a worker has been seen recently, every enabled model's weights are "
        "installed and the database and Redis answer, else `degraded`. A degraded service still answers "
        "200 (requests are accepted: without Redis they are sent to the workers once it is back), except "
        'with the database down: then 503, `"database": "down"`, and no request can be served. '
        "`device` is the worker's compute device.",
        tags=["Demo API"],
        auth=[],
        responses={
            200: OpenApiResponse(HealthResponse, description="The service's state."),
            **demo_errors(500),
            503: OpenApiResponse(HealthResponse, description="The database is down (`status`: `degraded`)."),
        },
    )
    def get(self, request: Request) -> Response:
        redis_state = broker_status()
        models = model_states()
        try:
            worker = worker_status()
            depth = queue_depth()
        except (OperationalError, InterfaceError) as exc:
            logger.warning("health: the database is down: %s", exc)
            body = self._body(
                worker={"alive": False, "last_seen_at": None, "device": None},
                models=models,
                database="down",
                redis=redis_state,
                depth=None,
            )
            return Response(body, status=503, headers={"Retry-After": str(DatabaseUnavailable.retry_after_s)})
        return Response(self._body(worker=worker, models=models, database="up", redis=redis_state, depth=depth))

    @staticmethod
    def _body(*, worker: dict, models: list[dict], database: str, redis: str, depth: int | None) -> dict:
        ready = (
            worker["alive"]
            and all(m["weights_installed"] for m in models if m["enabled"] and m["sellable"])
            # Nothing to sell (every enabled model refused by its licence) is not a working service.
            and any(m["enabled"] and m["sellable"] for m in models)
            and database == "up"
            and redis != "down"
        )
        return {
            "status": "online" if ready else "degraded",
            "device": worker["device"] or ("cpu" if settings.ML_DEVICE == "cpu" else "unknown"),
            "database": database,
            "redis": redis,
            "queue_depth": depth,
            "worker": {"alive": worker["alive"], "last_seen_at": iso_ms(worker["last_seen_at"])},
            "models": models,
        }


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
