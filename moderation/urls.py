from django.urls import path

from moderation import api, owner_views, public

app_name = "trust"

urlpatterns = [
    path("report-abuse/", public.report_abuse, name="report_form"),
    path("api/abuse-reports", api.ReportView.as_view(), name="report_api"),
    path("api/abuse-reports/challenge", api.ReportChallengeView.as_view(), name="report_challenge"),
    path("audit/", owner_views.organization_audit, name="organization_audit"),
]
