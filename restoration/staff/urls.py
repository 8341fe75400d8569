from django.urls import path

from restoration.staff import views

urlpatterns = [
    path("", views.home, name="home"),
    path("billing/", views.billing, name="billing"),
    path("billing.csv", views.billing_csv, name="billing_csv"),
    path("billing/reconciliation/", views.reconciliation, name="reconciliation"),
    path("billing/finance/", views.finance_view, name="finance"),
    path("billing/finance.csv", views.finance_csv, name="finance_csv"),
    path("organizations/", views.organizations, name="organizations"),
    path("organizations/<uuid:organization_id>/", views.organization_detail, name="organization_detail"),
    path("organizations/<uuid:organization_id>/plan/", views.organization_plan, name="organization_plan"),
    path("organizations/<uuid:organization_id>/status/", views.organization_status, name="organization_status"),
    path("models/", views.models, name="models"),
    path("requests/", views.request_lookup, name="request_lookup"),
    path("requests/<uuid:job_id>/", views.request_detail, name="request_detail"),
]
