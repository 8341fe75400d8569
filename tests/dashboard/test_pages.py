from __future__ import annotations

import pytest
from allauth.account.models import EmailAddress
from django.urls import reverse

from accounts.models import Membership, Organization
from billing.models import LedgerEntry, Wallet
from billing.pricing import price_for
from jobs.models import Job
from jobs.types import JobParams
from tests.accounts.factories import OrganizationFactory, UserFactory
from tests.dashboard.conftest import submit_job

pytestmark = pytest.mark.django_db

PAGES = ["home", "restore", "jobs", "keys", "wallet", "webhooks", "settings", "team"]


@pytest.mark.parametrize("name", PAGES)
def test_every_page_renders_for_an_owner(owner_client, org, name):
    submit_job(org)
    response = owner_client.get(reverse(f"dashboard:{name}"))
    assert response.status_code == 200
    assert org.name in response.content.decode()


def test_overview_shows_the_wallet_figures_and_recent_jobs(owner_client, org):
    job = submit_job(org)
    wallet = Wallet.objects.get(organization=org)
    assert wallet.held == job.price > 0
    body = owner_client.get(reverse("dashboard:home")).content.decode()
    assert f"${wallet.available // 100}.{wallet.available % 100:02d}" in body
    assert job.request_id in body
    assert "data-empty-wallet" not in body and "trial credit" not in body


def test_overview_names_trial_credit_and_says_when_the_wallet_cannot_pay_for_a_photo(client):
    from billing.services import wallet_adjust, wallet_topup

    newcomer = UserFactory(username="newcomer")
    org = OrganizationFactory(name="New Studio", owner=newcomer, initial_credit=0)
    client.force_login(newcomer)
    wallet_topup(organization=org, amount=100, idempotency_key="trial:x", kind="trial", description="Trial")
    body = client.get(reverse("dashboard:home")).content.decode()
    assert "from your $1.00 trial credit" in body and "data-empty-wallet" not in body
    cheapest = min(
        price_for(JobParams(upscale=upscale, background_enhance=background, face_upsample=faces), plan=org.plan)
        for upscale in (1, 2, 3, 4, 6, 8)
        for background in (False, True)
        for faces in (False, True)
    )
    default = price_for(JobParams(), plan=org.plan)
    assert cheapest < default <= 100
    # Enough for the cheapest settings only: it says so, and does not claim that everything is refused.
    wallet_adjust(organization=org, amount=-(100 - cheapest), idempotency_key="spent", description="test")
    body = client.get(reverse("dashboard:home")).content.decode()
    assert "data-empty-wallet" in body and "only cheaper settings" in body and "refused" not in body
    wallet_adjust(organization=org, amount=-1, idempotency_key="spent-more", description="test")
    body = client.get(reverse("dashboard:home")).content.decode()
    assert "data-empty-wallet" in body and "less than the cheapest photo costs" in body and "refused for now" in body
    assert reverse("dashboard:wallet") in body


def test_the_balance_is_no_longer_called_trial_credit_after_a_staff_credit(client):
    from billing.services import wallet_adjust, wallet_topup

    newcomer = UserFactory(username="newcomer")
    org = OrganizationFactory(name="New Studio", owner=newcomer, initial_credit=0)
    client.force_login(newcomer)
    wallet_topup(organization=org, amount=100, idempotency_key="trial:x", kind="trial", description="Trial")
    wallet_adjust(organization=org, amount=500, idempotency_key="goodwill", description="Goodwill credit")
    body = client.get(reverse("dashboard:home")).content.decode()
    assert "trial credit" not in body and "ready for new jobs" in body


def test_anonymous_visitors_are_sent_to_the_login_page(client, org):
    response = client.get(reverse("dashboard:keys"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("dashboard:login"))


def test_login_page_logs_a_verified_user_in(client, owner, org):
    EmailAddress.objects.create(user=owner, email=owner.email, verified=True, primary=True)
    response = client.post(reverse("dashboard:login"), {"login": "olivia", "password": "correct horse battery staple"})
    assert response.status_code == 302
    assert client.get(reverse("dashboard:home")).status_code == 200


def test_job_detail_shows_logs_previews_and_a_cancel_button(owner_client, org):
    job = submit_job(org)
    response = owner_client.get(reverse("dashboard:job_detail", args=[job.request_id]))
    body = response.content.decode()
    assert response.status_code == 200
    assert job.request_id in body
    assert "/media/results/" in body  # the signed input preview
    assert reverse("dashboard:job_cancel", args=[job.request_id]) in body


def test_cancel_releases_the_hold(owner_client, org):
    job = submit_job(org)
    response = owner_client.post(reverse("dashboard:job_cancel", args=[job.request_id]))
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.status == Job.Status.CANCELED
    assert Wallet.objects.get(organization=org).held == 0
    assert LedgerEntry.objects.filter(job=job, kind=LedgerEntry.Kind.RELEASE).count() == 1


def test_the_jobs_list_filters_by_status(owner_client, org):
    queued = submit_job(org)
    canceled = submit_job(org)
    owner_client.post(reverse("dashboard:job_cancel", args=[canceled.request_id]))
    body = owner_client.get(reverse("dashboard:jobs"), {"status": "CANCELED"}).content.decode()
    assert canceled.request_id in body
    assert queued.request_id not in body


def test_an_outsider_gets_404_on_another_organizations_job(outsider_client, org):
    job = submit_job(org)
    assert outsider_client.get(reverse("dashboard:job_detail", args=[job.request_id])).status_code == 404
    assert outsider_client.post(reverse("dashboard:job_cancel", args=[job.request_id])).status_code == 404
    job.refresh_from_db()
    assert job.status == Job.Status.QUEUED


def test_an_outsider_sees_none_of_another_organizations_jobs_or_money(outsider_client, org):
    job = submit_job(org)
    for name in ("home", "jobs", "wallet"):
        body = outsider_client.get(reverse(f"dashboard:{name}")).content.decode()
        assert job.request_id not in body
        assert org.name not in body


def test_a_malformed_request_id_is_a_404(owner_client):
    assert owner_client.get(reverse("dashboard:job_detail", args=["not-a-job"])).status_code == 404


def test_a_user_with_two_organizations_can_switch_between_them(owner_client, owner, org):
    second = OrganizationFactory(name="Side Project", owner=owner)
    response = owner_client.post(reverse("dashboard:switch_organization"), {"organization_id": str(second.id)})
    assert response.status_code == 302
    body = owner_client.get(reverse("dashboard:home")).content.decode()
    assert "<h1>Side Project</h1>" in body


def test_switching_to_an_organization_one_does_not_belong_to_is_a_404(owner_client, other_org):
    response = owner_client.post(reverse("dashboard:switch_organization"), {"organization_id": str(other_org.id)})
    assert response.status_code == 404
    assert "<h1>Acme Photos</h1>" in owner_client.get(reverse("dashboard:home")).content.decode()


def test_a_user_without_an_organization_is_offered_to_create_one(client):
    user = UserFactory(username="loner")
    client.force_login(user)
    response = client.get(reverse("dashboard:home"))
    assert response.status_code == 302 and response["Location"] == reverse("dashboard:no_organization")
    client.post(reverse("dashboard:no_organization"), {"name": "Loner Inc"})
    assert Membership.objects.get(user=user).role == Membership.Role.OWNER


def test_the_webhook_secret_is_masked_and_rotation_issues_a_new_one(owner_client, org):
    body = owner_client.get(reverse("dashboard:settings")).content.decode()
    assert org.webhook_secret not in body
    assert org.webhook_secret[:8] in body
    response = owner_client.post(reverse("dashboard:webhook_secret_rotate"))
    rotated = Organization.objects.get(pk=org.pk)
    assert rotated.webhook_secret != org.webhook_secret
    assert rotated.previous_webhook_secret == org.webhook_secret
    assert rotated.webhook_secret in response.content.decode()
    assert response["Cache-Control"] == "no-store"


def test_a_member_can_neither_reveal_nor_rotate_the_webhook_secret(teammate_client, org):
    assert teammate_client.post(reverse("dashboard:webhook_secret_reveal")).status_code == 403
    assert teammate_client.post(reverse("dashboard:webhook_secret_rotate")).status_code == 403
    assert Organization.objects.get(pk=org.pk).webhook_secret == org.webhook_secret


def test_the_wallet_page_lists_the_ledger_and_says_whom_to_write_to_without_stripe(owner_client, org, settings):
    settings.STRIPE_SECRET_KEY = ""
    settings.BILLING_CONTACT_EMAIL = "billing@codeformer.example"
    job = submit_job(org)
    body = owner_client.get(reverse("dashboard:wallet")).content.decode()
    assert "mailto:billing@codeformer.example" in body and org.slug in body
    assert "Pay with card" not in body
    assert "Initial credit" in body
    assert job.request_id in body  # the hold row links to its job


def test_timestamps_are_time_elements_the_browser_shows_in_local_time():
    from datetime import UTC, datetime

    from restoration.templatetags.dashboard_tags import local_time

    when = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)

    assert local_time(when) == '<time datetime="2026-03-04T05:06:07Z" data-local="datetime">2026-03-04 05:06 UTC</time>'
    assert local_time("2026-03-04T05:06:07.120Z", "date").startswith('<time datetime="2026-03-04T05:06:07Z"')
    assert local_time(None) == "—"


def test_an_owner_renames_the_organization_and_a_member_cannot(owner_client, org, teammate):
    from django.test import Client

    response = owner_client.post(reverse("dashboard:organization_rename"), {"name": "  Acme   Restorations "})
    assert response.status_code == 302
    org.refresh_from_db()
    assert org.name == "Acme Restorations" and org.slug == "acme-photos"  # the id customers quote stays
    assert "Acme Restorations" in owner_client.get(reverse("dashboard:settings")).content.decode()
    owner_client.post(reverse("dashboard:organization_rename"), {"name": "   "})
    org.refresh_from_db()
    assert org.name == "Acme Restorations"
    member = Client()
    member.force_login(teammate)
    assert member.post(reverse("dashboard:organization_rename"), {"name": "Hijacked"}).status_code in (302, 403)
    org.refresh_from_db()
    assert org.name == "Acme Restorations"
