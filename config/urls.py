from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView

from restoration.api.docs_views import RedocDocsView, SwaggerDocsView, docs_key
from restoration.dashboard import team_views

urlpatterns = [
    path("admin/", admin.site.urls),
    # For clients that ask for /favicon.ico without reading the page's <link rel="icon">.
    path("favicon.ico", RedirectView.as_view(url=static("img/favicon-32.png"), permanent=True)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # Swagger UI and Redoc from this deployment's own static files.
    path("api/docs/", SwaggerDocsView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/docs/key/", docs_key, name="docs-key"),
    path("api/redoc/", RedocDocsView.as_view(url_name="schema"), name="redoc"),
    # Gateway API (/codeformer-image-restoration/v1/..., /v2/requests/...) and demo API (/api/...).
    path("", include("restoration.api.urls")),
    # Signed result and input downloads.
    path("", include("jobs.urls")),
    # Sign-up, verification, login/logout, password reset, email addresses, two-factor auth.
    # Sign-up first: allauth's view, aware of an invitation the visitor followed.
    path("accounts/signup/", team_views.SignupView.as_view(), name="account_signup"),
    path("accounts/", include("allauth.urls")),
    path("staff/", include(("restoration.staff.urls", "staff"))),
    path("staff/", include("moderation.staff_urls")),
    # Abuse reports (public form and API) and the owners' audit trail.
    path("", include("moderation.urls")),
    path("", include(("restoration.dashboard.urls", "dashboard"))),
]

# A database outage is a 503 page with Retry-After, like the APIs' 503; anything else the 500 page.
handler500 = "config.error_views.server_error"
# An unknown path under the API's prefixes answers JSON in the API's shape; elsewhere the 404 page.
handler404 = "config.error_views.page_not_found"
