"""GET /api/health: public, and honest about workers, queue and weights."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from jobs.models import WorkerHeartbeat
from ml.weights import MANIFEST, MODELS
from tests.restoration.conftest import GENERATE_URL, HEALTH_URL, png_bytes


def install_weights(weights_dir, names) -> None:
    """Files of each checkpoint's exact size (sparse, so no disk is spent); the health check is
    the cheap size check, as documented in ml.weights.weights_status."""
    weights_dir.mkdir(parents=True, exist_ok=True)
    for name in names:
        with open(weights_dir / MANIFEST[name].filename, "wb") as handle:
            handle.truncate(MANIFEST[name].size)


@pytest.fixture
def weights_dir(settings, tmp_path):
    settings.WEIGHTS_DIR = tmp_path / "weights"
    return settings.WEIGHTS_DIR


def beat(*, device="cuda", age_s=0):
    WorkerHeartbeat.objects.create(
        worker_id=f"w-{device}-{age_s}",
        hostname="gpu-1",
        device=device,
        models_loaded=["codeformer"],
        seen_at=timezone.now() - timedelta(seconds=age_s),
    )


def test_without_worker_or_weights_it_is_degraded_and_says_why(db, anonymous, weights_dir):
    response = anonymous.get(HEALTH_URL)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert body["device"] == "unknown"
    assert body["queue_depth"] == 0
    assert body["worker"] == {"alive": False, "last_seen_at": None}
    codeformer = next(m for m in body["models"] if m["name"] == "codeformer")
    assert codeformer["enabled"] is True
    assert codeformer["licence"] == "S-Lab License 1.0"
    assert codeformer["commercial_use"] is False
    assert codeformer["weights_installed"] is False
    assert set(codeformer["missing_checkpoints"]) == set(MODELS["codeformer"].checkpoints)
    assert {m["name"] for m in body["models"]} == set(MODELS)


def test_with_a_live_worker_and_the_enabled_weights_it_is_online(db, anonymous, weights_dir):
    install_weights(weights_dir, MODELS["codeformer"].checkpoints)
    beat(device="cuda")
    body = anonymous.get(HEALTH_URL).json()
    assert body["status"] == "online"
    assert body["device"] == "cuda"
    assert body["worker"]["alive"] is True and body["worker"]["last_seen_at"].endswith("Z")
    models = {m["name"]: m for m in body["models"]}
    assert models["codeformer"]["weights_installed"] is True and models["codeformer"]["missing_checkpoints"] == []
    assert models["gfpgan"]["enabled"] is False and models["gfpgan"]["weights_installed"] is False
    assert models["gfpgan"]["commercial_use"] is True


def test_a_worker_not_seen_recently_makes_it_degraded(db, anonymous, weights_dir, settings):
    install_weights(weights_dir, MODELS["codeformer"].checkpoints)
    beat(device="cpu", age_s=10 * settings.WORKER_HEARTBEAT_S)
    body = anonymous.get(HEALTH_URL).json()
    assert body["status"] == "degraded"
    assert body["worker"]["alive"] is False
    assert body["device"] == "cpu"  # the last device a worker reported


def test_missing_weights_of_an_enabled_model_make_it_degraded(db, anonymous, weights_dir, settings):
    settings.ENABLED_MODELS = ["codeformer", "gfpgan"]
    install_weights(weights_dir, MODELS["codeformer"].checkpoints)
    beat()
    body = anonymous.get(HEALTH_URL).json()
    assert body["status"] == "degraded"
    assert next(m for m in body["models"] if m["name"] == "gfpgan")["missing_checkpoints"] == ["gfpgan_v1.4"]


def test_a_truncated_checkpoint_counts_as_missing(db, anonymous, weights_dir):
    install_weights(weights_dir, MODELS["codeformer"].checkpoints)
    with open(weights_dir / MANIFEST["codeformer"].filename, "r+b") as handle:
        handle.truncate(1000)
    beat()
    body = anonymous.get(HEALTH_URL).json()
    assert body["status"] == "degraded"
    assert next(m for m in body["models"] if m["name"] == "codeformer")["missing_checkpoints"] == ["codeformer"]


def test_queue_depth_counts_queued_jobs_and_reveals_no_tenant_data(client, outsider, anonymous, weights_dir):
    import base64

    for _ in range(2):
        response = client.post(GENERATE_URL, {"image_base64": base64.b64encode(png_bytes()).decode()}, format="json")
        assert response.status_code == 202
    request_id = response.json()["request_id"]
    as_outsider = outsider.client().get(HEALTH_URL)
    assert as_outsider.status_code == 200
    assert as_outsider.json()["queue_depth"] == 2
    assert request_id not in as_outsider.content.decode()
    assert "Acme" not in as_outsider.content.decode()


def test_health_needs_no_key_and_ignores_a_bad_one(db, anonymous, weights_dir):
    anonymous.credentials(HTTP_OCP_APIM_SUBSCRIPTION_KEY="cf_bogus")
    assert anonymous.get(HEALTH_URL).status_code == 200


def test_an_unexpected_failure_answers_a_json_500_not_a_traceback(db, anonymous, settings, monkeypatch):
    from restoration.api import health

    def broken():
        raise RuntimeError("database on fire")

    monkeypatch.setattr(health, "queue_depth", broken)
    settings.DEBUG = False
    response = anonymous.get(HEALTH_URL)
    assert response.status_code == 500
    assert response.json() == {
        "status": "error",
        "message": "Something went wrong on our side; the request was not charged. Please try again.",
    }
    assert "database on fire" not in response.content.decode()
