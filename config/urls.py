from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
    # Gateway API (/codeformer-image-restoration/v1/..., /v2/requests/...) and demo API (/api/...).
    path("", include("restoration.api.urls")),
    # Signed result and input downloads.
    path("", include("jobs.urls")),
    path("staff/", include(("restoration.staff.urls", "staff"))),
    path("", include(("restoration.dashboard.urls", "dashboard"))),
]
