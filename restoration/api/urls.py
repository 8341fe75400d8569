"""Routes of both APIs. CORS is open on them (settings.CORS_URLS_REGEX)."""

from django.urls import path

from restoration.api import demo, gateway, health

app_name = "api"

urlpatterns = [
    # Gateway API (asynchronous).
    path("codeformer-image-restoration/v1/codeformer/generate", gateway.GenerateView.as_view(), name="generate"),
    path("v2/requests", gateway.RequestListView.as_view(), name="request-list"),
    path("v2/requests/status/<str:request_id>", gateway.RequestStatusView.as_view(), name="request-status"),
    path("v2/requests/status/<str:request_id>/stream", gateway.RequestStreamView.as_view(), name="request-stream"),
    path("v2/requests/cancel/<str:request_id>", gateway.RequestCancelView.as_view(), name="request-cancel"),
    # Demo API (synchronous).
    path("api/process", demo.ProcessView.as_view(), name="process"),
    path("api/health", health.HealthView.as_view(), name="health"),
]
