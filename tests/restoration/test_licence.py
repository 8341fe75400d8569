"""A non-commercial model (CodeFormer, S-Lab License 1.0) is not sold without recorded permission."""

from __future__ import annotations

import pytest

from restoration.dashboard.forms import RestoreForm
from restoration.licensing import licence_state, offered_models
from tests.restoration.conftest import GENERATE_URL, HEALTH_URL, PROCESS_URL, png_bytes
from tests.restoration.test_gateway import data_uri


@pytest.fixture
def payments_on(settings):
    settings.STRIPE_SECRET_KEY = "sk_test_licence"
    settings.COMMERCIAL_LICENCE_GRANTED = []
    return settings


def test_with_payments_a_codeformer_job_is_refused_naming_the_licence(client, payments_on, nothing_created):
    guard = nothing_created()
    response = client.post(GENERATE_URL, {"image_base64": data_uri(png_bytes())}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "Model licence restricted"
    assert "S-Lab License 1.0" in body["message"] and "codeformer" in body["message"]
    guard.assert_unchanged()


def test_the_demo_api_refuses_it_in_its_own_shape(client, payments_on, nothing_created):
    guard = nothing_created()
    response = client.post(PROCESS_URL, {"image_base64": data_uri(png_bytes())}, format="json")
    assert response.status_code == 400
    assert response.json()["status"] == "error"
    assert "S-Lab License 1.0" in response.json()["message"]
    guard.assert_unchanged()


def test_a_recorded_permission_lets_it_be_sold(client, payments_on):
    payments_on.COMMERCIAL_LICENCE_GRANTED = ["codeformer"]
    assert client.post(GENERATE_URL, {"image_base64": data_uri(png_bytes())}, format="json").status_code == 202
    assert licence_state("codeformer").sellable


def test_without_payments_it_runs(client, settings):
    settings.STRIPE_SECRET_KEY = ""
    assert client.post(GENERATE_URL, {"image_base64": data_uri(png_bytes())}, format="json").status_code == 202


def test_a_deployment_that_sells_without_stripe_is_commercial_too(client, settings, nothing_created):
    # Wallets are charged whoever books the credit (invoices, staff adjustments): no Stripe keys
    # does not make selling restorations non-commercial.
    settings.STRIPE_SECRET_KEY = ""
    settings.COMMERCIAL_DEPLOYMENT = True
    settings.COMMERCIAL_LICENCE_GRANTED = []
    guard = nothing_created()
    response = client.post(GENERATE_URL, {"image_base64": data_uri(png_bytes())}, format="json")
    assert response.status_code == 400
    assert response.json()["error"] == "Model licence restricted"
    guard.assert_unchanged()
    assert "COMMERCIAL_DEPLOYMENT" in licence_state("codeformer").reason
    settings.COMMERCIAL_LICENCE_GRANTED = ["codeformer"]
    assert licence_state("codeformer").sellable


def test_health_is_degraded_when_no_enabled_model_may_be_sold(db, anonymous, payments_on):
    payments_on.ENABLED_MODELS = ["codeformer"]
    body = anonymous.get(HEALTH_URL).json()
    assert body["status"] == "degraded"
    assert [m["sellable"] for m in body["models"] if m["name"] == "codeformer"] == [False]


def test_a_commercial_model_is_sold_with_payments_on(client, payments_on):
    payments_on.ENABLED_MODELS = ["codeformer", "gfpgan"]
    body = {"image_base64": data_uri(png_bytes()), "model": "gfpgan"}
    assert client.post(GENERATE_URL, body, format="json").status_code == 202
    assert offered_models() == ["gfpgan"]


def test_the_dashboard_does_not_offer_it(payments_on):
    payments_on.ENABLED_MODELS = ["codeformer", "gfpgan"]
    choices = [value for value, _ in RestoreForm().fields["model"].choices]
    assert choices == ["gfpgan"]


def test_health_shows_each_models_licence_state_and_why(db, anonymous, payments_on):
    models = {m["name"]: m for m in anonymous.get(HEALTH_URL).json()["models"]}
    assert models["codeformer"]["sellable"] is False
    assert "COMMERCIAL_LICENCE_GRANTED" in models["codeformer"]["licence_reason"]
    assert models["gfpgan"]["sellable"] is True
    payments_on.STRIPE_SECRET_KEY = ""
    models = {m["name"]: m for m in anonymous.get(HEALTH_URL).json()["models"]}
    assert models["codeformer"]["sellable"] is True
    assert "does not sell restorations" in models["codeformer"]["licence_reason"]


def test_the_staff_models_page_shows_it(db, client, payments_on, django_user_model):
    from django.test import Client

    staff = django_user_model.objects.create_user("staff-lic", password="pw", is_staff=True)
    browser = Client()
    browser.force_login(staff)
    page = browser.get("/staff/models/").content.decode()
    assert "refused" in page and "COMMERCIAL_LICENCE_GRANTED" in page
