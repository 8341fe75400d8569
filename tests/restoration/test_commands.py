"""seed_demo and fetch_weights."""

from __future__ import annotations

import base64
import io
import re

import pytest
from django.contrib.auth import authenticate
from django.core.management import CommandError, call_command

from accounts.models import ApiKey, Organization
from billing.models import LedgerEntry
from jobs.models import Job
from ml import weights
from tests.restoration.conftest import png_bytes


def seed(*args) -> str:
    out = io.StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


def printed_key(output: str) -> str:
    return re.search(r"Subscription key .*: (cf_\S+)", output).group(1)


def printed_password(output: str) -> str:
    return re.search(r"Dashboard login: demo / (\S+)", output).group(1)


def test_seed_demo_creates_the_demo_organization_once_with_its_credit(seeded):
    seed()
    seed()
    org = Organization.objects.get(slug="demo")
    assert org.name == "Demo"
    assert org.wallet.balance == 10_000
    assert LedgerEntry.objects.filter(organization=org, kind=LedgerEntry.Kind.TOPUP).count() == 1
    assert org.memberships.get(user__username="demo").role == "owner"


def test_each_run_prints_a_working_key_and_retires_the_previous_one(seeded, anonymous):
    first = printed_key(seed())
    second = printed_key(seed())
    assert first != second
    health_free = {"image_base64": base64.b64encode(png_bytes()).decode()}
    anonymous.credentials(HTTP_OCP_APIM_SUBSCRIPTION_KEY=second)
    response = anonymous.post("/codeformer-image-restoration/v1/codeformer/generate", health_free, format="json")
    assert response.status_code == 202
    assert Job.objects.get().organization.slug == "demo"
    anonymous.credentials(HTTP_OCP_APIM_SUBSCRIPTION_KEY=first)
    assert (
        anonymous.post("/codeformer-image-restoration/v1/codeformer/generate", health_free, format="json").status_code
        == 403
    )
    assert ApiKey.objects.filter(organization__slug="demo", slot="primary", revoked_at__isnull=True).count() == 1


def test_the_printed_password_logs_the_demo_user_in(seeded):
    password = printed_password(seed())
    assert authenticate(username="demo", password=password) is not None
    assert authenticate(username="demo", password=printed_password(seed("--password", "chosen-pass-123"))) is not None
    assert authenticate(username="demo", password=password) is None


def test_seed_demo_prints_one_curl_line_per_endpoint_with_the_key(seeded):
    output = seed("--base-url", "https://restore.example.com/")
    key = printed_key(output)
    curls = [line for line in output.splitlines() if line.startswith("curl")]
    assert len(curls) == 5
    for path in [
        "/codeformer-image-restoration/v1/codeformer/generate",
        "/v2/requests/status/",
        "/v2/requests/cancel/",
        "/api/process",
        "/api/health",
    ]:
        assert any(f"https://restore.example.com{path}" in line for line in curls), path
    assert all(key in line for line in curls if "/api/health" not in line)
    assert any("image=@photo.jpg" in line for line in curls)


def test_the_demo_organizations_requests_are_invisible_to_an_outsider(seeded, anonymous, outsider):
    anonymous.credentials(HTTP_OCP_APIM_SUBSCRIPTION_KEY=printed_key(seed()))
    body = {"image_base64": base64.b64encode(png_bytes()).decode()}
    request_id = anonymous.post("/codeformer-image-restoration/v1/codeformer/generate", body, format="json").json()[
        "request_id"
    ]
    assert anonymous.get(f"/v2/requests/status/{request_id}").status_code == 200
    assert outsider.client().get(f"/v2/requests/status/{request_id}").status_code == 404


# --- fetch_weights ------------------------------------------------------------------------------


@pytest.fixture
def recorded_fetch(monkeypatch):
    """Replace the download (the internet is out of reach here) and record what was asked."""
    calls = []

    def fake_fetch(weights_dir, names=None, *, progress=True, **kwargs):
        calls.append((weights_dir, list(names), progress))
        return [weights_dir / weights.MANIFEST[name].filename for name in names]

    monkeypatch.setattr(weights, "fetch_weights", fake_fetch)
    return calls


def test_fetch_weights_defaults_to_the_enabled_models_checkpoints_in_weights_dir(recorded_fetch, settings, tmp_path):
    settings.WEIGHTS_DIR = tmp_path
    out = io.StringIO()
    call_command("fetch_weights", "--quiet", stdout=out)
    assert recorded_fetch == [(tmp_path, weights.checkpoints_for_models(["codeformer"]), False)]
    assert f"ok  {tmp_path / 'codeformer.pth'}" in out.getvalue()


def test_fetch_weights_expands_models_and_honours_dir(recorded_fetch, tmp_path):
    call_command("fetch_weights", "gfpgan", "parsenet", "--dir", str(tmp_path), stdout=io.StringIO())
    (weights_dir, names, _progress) = recorded_fetch[0]
    assert weights_dir == tmp_path
    assert names == weights.checkpoints_for_models(["gfpgan"])  # parsenet is among them, listed once


def test_fetch_weights_all_fetches_every_models_checkpoints(recorded_fetch, tmp_path):
    call_command("fetch_weights", "--all", "--dir", str(tmp_path), stdout=io.StringIO())
    assert recorded_fetch[0][1] == weights.checkpoints_for_models(weights.MODELS)


def test_fetch_weights_refuses_unknown_names(recorded_fetch):
    with pytest.raises(CommandError, match="Unknown checkpoint or model: nonsense"):
        call_command("fetch_weights", "nonsense", stdout=io.StringIO())
    assert recorded_fetch == []


def test_fetch_weights_reports_a_failed_download_as_a_command_error(monkeypatch, tmp_path):
    def failing(*args, **kwargs):
        raise weights.WeightsError("codeformer.pth fails its sha256 check")

    monkeypatch.setattr(weights, "fetch_weights", failing)
    with pytest.raises(CommandError, match="sha256"):
        call_command("fetch_weights", "codeformer", "--dir", str(tmp_path), stdout=io.StringIO())


def test_fetch_weights_if_possible_reports_an_offline_machine_in_one_line_and_goes_on(tmp_path, monkeypatch):
    import io

    import requests
    from django.core.management import CommandError, call_command

    def offline(self, request, **kwargs):
        raise requests.ConnectionError("Name or service not known")

    monkeypatch.setattr(requests.Session, "send", offline)  # the HTTP boundary: no internet here
    err = io.StringIO()
    call_command("fetch_weights", "--if-possible", "--quiet", "--dir", str(tmp_path), stderr=err)
    lines = [line for line in err.getvalue().splitlines() if line.strip()]
    assert len(lines) == 1 and "could not be fetched" in lines[0] and "starts anyway" in lines[0]
    assert not [p for p in tmp_path.rglob("*.pth")]
    with pytest.raises(CommandError):
        call_command("fetch_weights", "--quiet", "--dir", str(tmp_path))
