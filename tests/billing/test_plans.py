"""Plans are data: limits, quota, retention and price tables come from the organization's plan."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import Organization
from billing.controls import admission_check, next_month_start
from billing.errors import InsufficientBalance, QuotaExceeded, SpendLimitReached
from billing.models import BillingAccount, KeySpendLimit, LedgerEntry, Plan, PlanPrice, PriceItem, Wallet
from billing.plans import plan_choose
from billing.pricing import price_for, price_lines
from billing.services import hold_capture, wallet_debit_external, wallet_topup
from config.errors import BadRequest
from jobs.models import Job
from jobs.retention import files_purge_expired
from jobs.services import job_cancel, job_submit
from jobs.types import JobParams
from moderation.models import StaffMember
from tests.accounts.factories import OrganizationFactory, UserFactory, make_key
from tests.jobs.conftest import PLAIN, image_input

pytestmark = pytest.mark.django_db


def submit(org, count=1, **kwargs):
    return job_submit(
        organization=org, params=PLAIN, images=[image_input() for _ in range(count)], source="gateway", **kwargs
    )


def test_a_fresh_database_has_a_free_plan_and_paid_ones_each_with_limits_and_prices():
    plans = {p.code: p for p in Plan.objects.all()}
    assert {"free", "standard", "pro"} <= set(plans)
    assert plans["free"].monthly_image_quota > 0 and plans["free"].monthly_price == 0
    assert plans["pro"].monthly_price > 0 and plans["pro"].included_credit > 0
    assert plans["pro"].file_retention_hours > plans["standard"].file_retention_hours
    assert PlanPrice.objects.filter(plan=plans["pro"], code="restore_base").exists()
    assert Plan.objects.get(is_default=True).code == "standard"


def test_a_plans_own_price_table_prices_its_jobs_and_falls_back_to_the_list_price():
    pro = Plan.objects.get(code="pro")
    params = JobParams(background_enhance=True, face_upsample=True, upscale=4)
    assert price_for(params, plan=pro) == 7 + 3 + 2 + 2 * 1
    PlanPrice.objects.filter(plan=pro, code="upscale_step").delete()
    assert price_for(params, plan=pro) == 7 + 3 + 2 + 2 * 2  # list price of upscale_step
    assert price_for(params, plan=Plan.objects.get(code="standard")) == 10 + 5 + 3 + 2 * 2


def test_output_megapixels_are_charged_per_started_megapixel_when_priced():
    standard = Plan.objects.get(code="standard")
    params = JobParams(background_enhance=False, face_upsample=False, upscale=2)
    assert price_for(params, plan=standard, width=1000, height=1000) == 10  # list price is 0
    item = PriceItem.objects.get(code="output_megapixel")
    item.amount = 4
    item.save()  # as the admin does (a save also refreshes the processes' price cache)
    # 1000x1000 at 2x is 4.0 MP; 1001x1000 is 4.004 MP -> 5 started megapixels.
    assert price_for(params, plan=standard, width=1000, height=1000) == 10 + 4 * 4
    lines = price_lines(params, plan=standard, width=1001, height=1000)
    assert [(line.code, line.quantity) for line in lines] == [("restore_base", 1), ("output_megapixel", 5)]


def test_submissions_are_priced_per_image_by_the_organizations_plan():
    org = OrganizationFactory(initial_credit=1000, plan=Plan.objects.get(code="pro"))
    jobs, _ = submit(org)
    assert jobs[0].price == 7
    assert LedgerEntry.objects.get(job=jobs[0], kind="hold").held_change == 7


def _quota_org(quota: int) -> Organization:
    plan = Plan.objects.get(code="free")
    plan.monthly_image_quota = quota
    plan.max_jobs_in_flight = 20
    plan.save()
    return OrganizationFactory(initial_credit=1000, plan=plan)


def test_the_monthly_quota_admits_exactly_its_images_then_answers_429_with_the_renewal():
    org = _quota_org(3)
    submit(org, count=2)
    submit(org, count=1)  # exactly at the quota
    with pytest.raises(QuotaExceeded) as caught:
        submit(org, count=1)
    error = caught.value
    assert error.status_code == 429
    renews = next_month_start()
    assert error.extra["renews_at"] == renews.isoformat().replace("+00:00", "Z")
    assert error.extra["quota"] == 3 and error.extra["used"] == 3
    assert 0 < int(error.headers["Retry-After"]) <= 31 * 86400
    assert Job.objects.filter(organization=org).count() == 3


def test_canceled_jobs_and_last_months_jobs_do_not_count_against_the_quota():
    org = _quota_org(1)
    jobs, _ = submit(org)
    job_cancel(organization=org, job=jobs[0])
    old, _ = submit(org)
    Job.objects.filter(id=old[0].id).update(created_at=timezone.now() - timedelta(days=40))
    submit(org)  # one image of this month's quota
    with pytest.raises(QuotaExceeded):
        submit(org)


def test_quota_renews_on_the_first_of_the_next_month_utc():
    assert next_month_start(datetime(2026, 12, 31, 23, 59, tzinfo=UTC)) == datetime(2027, 1, 1, tzinfo=UTC)
    assert next_month_start(datetime(2026, 2, 10, tzinfo=UTC)) == datetime(2026, 3, 1, tzinfo=UTC)


def test_the_gateway_answers_the_quota_in_the_documented_shape(settings):
    from rest_framework.test import APIClient

    from tests.restoration.conftest import GENERATE_URL, png_bytes
    from tests.restoration.test_gateway import data_uri

    org = _quota_org(1)
    _, key = make_key(org)
    client = APIClient()
    client.credentials(HTTP_OCP_APIM_SUBSCRIPTION_KEY=key)
    body = {"image_base64": data_uri(png_bytes())}
    assert client.post(GENERATE_URL, body, format="json").status_code == 202
    response = client.post(GENERATE_URL, body, format="json")
    assert response.status_code == 429
    assert response.json()["error"] == "Too Many Requests"
    assert "renews" in response.json()["message"]
    assert response.json()["renews_at"].endswith("Z")
    assert int(response["Retry-After"]) > 0


def test_rate_limits_and_the_in_flight_cap_follow_the_plan(settings):
    from accounts.errors import RateLimited
    from accounts.models import ApiKey
    from accounts.ratelimit import build_limiter, enforce_request_rate
    from billing.errors import TooManyJobsInFlight

    free = Plan.objects.get(code="free")
    org = OrganizationFactory(initial_credit=1000, plan=free)
    subscription, _ = make_key(org)
    api_key = ApiKey.objects.select_related("organization__plan").get(subscription=subscription, slot="primary")
    limiter = build_limiter("memory://")
    for _ in range(free.requests_per_minute):
        enforce_request_rate(api_key, limiter=limiter)
    with pytest.raises(RateLimited):
        enforce_request_rate(api_key, limiter=limiter)
    submit(org, count=free.max_jobs_in_flight)
    with pytest.raises(TooManyJobsInFlight):
        submit(org)


def test_file_retention_follows_the_plan(_media_root):
    pro_org = OrganizationFactory(initial_credit=1000, plan=Plan.objects.get(code="pro"))
    std_org = OrganizationFactory(initial_credit=1000)
    finished = timezone.now() - timedelta(hours=30)
    jobs = []
    for org in (pro_org, std_org):
        job = submit(org)[0][0]
        Job.objects.filter(id=job.id).update(status=Job.Status.COMPLETED, completed_at=finished)
        hold_capture(job=job)
        jobs.append(job)
    assert files_purge_expired() == 1
    pro_job, std_job = (Job.objects.get(id=j.id) for j in jobs)
    assert pro_job.files_purged_at is None  # 168 hours
    assert std_job.files_purged_at is not None  # 24 hours


def test_staff_change_an_organizations_plan_from_the_console():
    org = OrganizationFactory(initial_credit=10)
    staff = UserFactory(username="staff-plans", is_staff=True)
    # Changing a plan is an admin's action in the staff console (support may only read and flag).
    StaffMember.objects.create(user=staff, role=StaffMember.Role.ADMIN)
    browser = Client()
    browser.force_login(staff)
    pro = Plan.objects.get(code="pro")
    url = reverse("staff:organization_plan", args=[org.id])
    refused = browser.post(url, {"plan": pro.id}, follow=True)
    assert "Say why: a plan change records a reason." in refused.content.decode()
    assert Organization.objects.get(id=org.id).plan != pro
    response = browser.post(url, {"plan": pro.id, "reason": "enterprise deal"})
    assert response.status_code == 302
    assert Organization.objects.get(id=org.id).plan == pro
    outsider = UserFactory(username="not-staff")
    browser.force_login(outsider)
    browser.post(url, {"plan": Plan.objects.get(code="free").id})
    assert Organization.objects.get(id=org.id).plan == pro


def test_a_customer_switches_to_a_free_plan_but_must_subscribe_to_a_paid_one():
    owner = UserFactory(username="plan-owner")
    org = OrganizationFactory(initial_credit=10, owner=owner)
    browser = Client()
    browser.force_login(owner)
    assert browser.post(reverse("dashboard:plan_switch"), {"plan": "free"}).status_code == 302
    assert Organization.objects.get(id=org.id).plan.code == "free"
    with pytest.raises(BadRequest):
        plan_choose(organization=org, plan_code="pro", user=owner)
    hidden = Plan.objects.create(code="secret", name="Secret", is_public=False)
    with pytest.raises(Exception, match="No such plan"):
        plan_choose(organization=org, plan_code=hidden.code, user=owner)
    assert "Free trial" in browser.get(reverse("dashboard:wallet")).content.decode()


def test_a_refund_below_zero_puts_the_wallet_in_debt_and_blocks_submissions_until_settled():
    org = OrganizationFactory(initial_credit=30)
    jobs, _ = submit(org)  # holds 10
    wallet_debit_external(organization=org, amount=50, idempotency_key="refund:1", kind="refund", description="r")
    wallet = Wallet.objects.get(organization=org)
    assert (wallet.balance, wallet.held, wallet.in_debt) == (-20, 10, True)
    with pytest.raises(InsufficientBalance, match=r"Your balance is -\$0\.20 after a refund"):
        submit(org)
    wallet_topup(organization=org, amount=25, idempotency_key="settle:1")
    wallet = Wallet.objects.get(organization=org)
    assert (wallet.balance, wallet.in_debt) == (5, True)  # still under the held 10
    job_cancel(organization=org, job=jobs[0])  # releases 10: balance 5 >= held 0
    assert Wallet.objects.get(organization=org).in_debt is False
    wallet_topup(organization=org, amount=20, idempotency_key="settle:2")
    assert submit(org)[1] is True


def test_the_database_still_refuses_an_ordinary_overdraw():
    from django.db import IntegrityError, transaction

    org = OrganizationFactory(initial_credit=5)
    with pytest.raises(IntegrityError), transaction.atomic():
        Wallet.objects.filter(organization=org).update(held=10)


def test_spend_limits_admit_up_to_the_limit_and_name_it_when_refused():
    org = OrganizationFactory(initial_credit=1000)
    BillingAccount.objects.create(organization=org, monthly_spend_limit=30)
    submit(org, count=3)  # 30: exactly the limit
    with pytest.raises(
        SpendLimitReached,
        match=r"\(\$0\.10\) would take this month's spend \(\$0\.30\) over the organization's monthly spend limit of \$0\.30;",
    ) as caught:
        submit(org)
    assert caught.value.status_code == 402


def test_a_keys_own_spend_limit_is_checked_separately():
    from accounts.models import ApiKey

    org = OrganizationFactory(initial_credit=1000)
    subscription, _ = make_key(org, name="ci")
    api_key = ApiKey.objects.get(subscription=subscription, slot="primary")
    KeySpendLimit.objects.create(subscription=subscription, monthly_limit=20)
    submit(org, count=2, api_key=api_key)
    with pytest.raises(SpendLimitReached, match=r"this key \(\$0\.20\) over its monthly spend limit of \$0\.20\."):
        submit(org, api_key=api_key)
    submit(org)  # other keys (and the dashboard) are not limited by it
    admission_check(organization=org, api_key=None, count=1, total_price=10)


def test_the_dashboard_quotes_the_organizations_plan_prices():
    owner = UserFactory(username="pro-owner")
    OrganizationFactory(initial_credit=100, owner=owner, plan=Plan.objects.get(code="pro"))
    browser = Client()
    browser.force_login(owner)
    quote = browser.get(
        reverse("dashboard:price_quote"), {"upscale": "2", "background_enhance": "false", "face_upsample": "false"}
    ).json()
    assert quote["unit_amount"] == 7  # pro's restore_base, not the list price 10


def test_the_spend_limits_come_with_the_authenticated_key_and_cost_no_query(django_assert_num_queries):
    from accounts.keys import authenticate_key

    org = OrganizationFactory(initial_credit=1000)
    subscription, raw = make_key(org, name="loaded")
    api_key = authenticate_key(raw)
    with django_assert_num_queries(0):
        admission_check(organization=api_key.organization, api_key=api_key, count=1, total_price=10)
    # Limits set: read from the same query's rows, and still enforced.
    BillingAccount.objects.create(organization=org, monthly_spend_limit=5)
    with pytest.raises(SpendLimitReached, match=r"monthly spend limit of \$0\.05;"):
        admission_check(
            organization=authenticate_key(raw).organization, api_key=authenticate_key(raw), count=1, total_price=10
        )
    BillingAccount.objects.filter(organization=org).update(monthly_spend_limit=None)
    KeySpendLimit.objects.create(subscription=subscription, monthly_limit=5)
    api_key = authenticate_key(raw)
    with pytest.raises(SpendLimitReached, match="this key"):
        admission_check(organization=api_key.organization, api_key=api_key, count=1, total_price=10)
