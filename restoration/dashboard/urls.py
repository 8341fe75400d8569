from allauth.account import views as account_views
from django.urls import path
from django.views.generic import RedirectView

from restoration.dashboard import api, billing_views, history_views, stripe_views, team_views, views, webhook_views

urlpatterns = [
    # Accounts are django-allauth's (config/urls.py mounts it at /accounts/, ahead of these).
    # The dashboard's old names stay as aliases at the same paths so links and bookmarks keep
    # working; the two retired password-change paths redirect to allauth's page.
    path("accounts/signup/", account_views.signup, name="signup"),
    path("accounts/login/", account_views.login, name="login"),
    path("accounts/logout/", account_views.logout, name="logout"),
    path(
        "accounts/password/",
        RedirectView.as_view(pattern_name="account_change_password", permanent=True),
        name="password_change",
    ),
    path(
        "accounts/password/done/",
        RedirectView.as_view(pattern_name="account_change_password", permanent=True),
        name="password_change_done",
    ),
    path("", views.home, name="home"),
    path("welcome/", views.no_organization, name="no_organization"),
    path("switch/", views.switch_organization, name="switch_organization"),
    path("quickstart/", views.quickstart, name="quickstart"),
    path("keys/", views.keys, name="keys"),
    path("keys/new/", views.key_create, name="key_create"),
    path("keys/<uuid:subscription_id>/regenerate/", views.key_regenerate, name="key_regenerate"),
    path("keys/<uuid:subscription_id>/revoke/", views.key_revoke, name="key_revoke"),
    path("wallet/", billing_views.wallet, name="wallet"),
    path("wallet/topup/", stripe_views.topup_checkout, name="topup_checkout"),
    path("wallet/plan/", billing_views.plan_switch, name="plan_switch"),
    path("wallet/subscribe/", stripe_views.subscription_checkout, name="subscription_checkout"),
    path("wallet/portal/", stripe_views.billing_portal, name="billing_portal"),
    path("wallet/details/", billing_views.billing_details, name="billing_details"),
    path("wallet/controls/", billing_views.spend_controls, name="spend_controls"),
    path("wallet/auto-recharge/", billing_views.auto_recharge, name="auto_recharge"),
    path("wallet/key-limit/", billing_views.key_spend_limit, name="key_spend_limit"),
    path("wallet/ledger.csv", history_views.ledger_export, name="ledger_export"),
    path("wallet/receipts/<uuid:payment_id>/", billing_views.receipt, name="receipt"),
    path("wallet/receipts/<uuid:payment_id>/pdf/", billing_views.receipt_pdf, name="receipt_pdf"),
    path("billing/stripe/webhook/", stripe_views.stripe_webhook, name="stripe_webhook"),
    path("jobs/", history_views.jobs, name="jobs"),
    path("jobs/export.csv", history_views.jobs_export, name="jobs_export"),
    path("usage/", history_views.usage, name="usage"),
    path("usage/export.csv", history_views.usage_export, name="usage_export"),
    path("jobs/new/", views.restore, name="restore"),
    path("jobs/new/price/", api.PriceQuoteView.as_view(), name="price_quote"),
    path("jobs/<str:request_id>/", views.job_detail, name="job_detail"),
    path("jobs/<str:request_id>/cancel/", views.job_cancel, name="job_cancel"),
    path("jobs/<str:request_id>/events/", views.job_events, name="job_events"),
    path("jobs/<str:request_id>/download/", views.job_download, name="job_download"),
    path("jobs/<str:request_id>/thumb/<str:kind>/", history_views.job_thumbnail, name="job_thumbnail"),
    path("webhooks/", webhook_views.webhooks, name="webhooks"),
    path("webhooks/endpoints/new/", webhook_views.endpoint_create, name="webhook_endpoint_create"),
    path("webhooks/endpoints/<uuid:endpoint_id>/", webhook_views.endpoint_detail, name="webhook_endpoint"),
    path(
        "webhooks/endpoints/<uuid:endpoint_id>/delete/", webhook_views.endpoint_delete, name="webhook_endpoint_delete"
    ),
    path("webhooks/endpoints/<uuid:endpoint_id>/test/", webhook_views.endpoint_test, name="webhook_endpoint_test"),
    path("webhooks/deliveries/<uuid:delivery_id>/", webhook_views.delivery_detail, name="webhook_delivery"),
    path(
        "webhooks/deliveries/<uuid:delivery_id>/replay/", webhook_views.delivery_replay, name="webhook_delivery_replay"
    ),
    path("settings/", views.org_settings, name="settings"),
    path("settings/name/", views.organization_rename, name="organization_rename"),
    path("settings/webhook-secret/reveal/", views.webhook_secret_reveal, name="webhook_secret_reveal"),
    path("settings/webhook-secret/rotate/", views.webhook_secret_rotate, name="webhook_secret_rotate"),
    path("team/", team_views.team, name="team"),
    path("team/invite/", team_views.team_invite, name="team_invite"),
    path(
        "team/invitations/<uuid:invitation_id>/revoke/",
        team_views.team_invitation_revoke,
        name="team_invitation_revoke",
    ),
    path("team/members/<int:membership_id>/role/", team_views.team_member_role, name="team_member_role"),
    path("team/members/<int:membership_id>/remove/", team_views.team_member_remove, name="team_member_remove"),
    path("team/leave/", team_views.team_leave, name="team_leave"),
    path("invitations/<str:token>/", team_views.invitation_accept, name="invitation_accept"),
]
