"""No Docker engine or compose plugin runs here, so the deployment files are checked statically:
the compose file parses (anchors resolved), every reference inside it resolves, and the commands
the images run exist in this code base."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from django.core.management import get_commands

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((DOCKER / "compose.yml").read_text())


def test_compose_defines_the_whole_stack(compose):
    services = compose["services"]
    assert set(services) == {"postgres", "redis", "migrate", "web", "worker-gpu", "worker-webhooks", "scheduler"}
    assert services["postgres"]["image"] == "postgres:16"
    assert services["redis"]["image"] == "redis:7"


def test_every_depends_on_and_volume_reference_resolves(compose):
    services = compose["services"]
    for name, service in services.items():
        for dependency in service.get("depends_on", {}):
            assert dependency in services, f"{name} depends on unknown {dependency}"
        for mount in service.get("volumes", []):
            source = mount.split(":", 1)[0]
            assert source in compose["volumes"], f"{name} mounts unknown volume {source}"


def test_the_app_services_share_the_environment_and_media(compose):
    services = compose["services"]
    for name in ("web", "worker-gpu", "worker-webhooks", "scheduler"):
        env = services[name]["environment"]
        assert env["DATABASE_URL"].startswith("postgres://") and env["REDIS_URL"].startswith("redis://redis:")
        assert env["DJANGO_DEBUG"] == "false"
        assert "media:/data/media" in services[name]["volumes"]
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert "weights:/data/weights" in services["worker-gpu"]["volumes"]


def test_the_gpu_worker_reserves_an_nvidia_gpu_and_consumes_only_the_gpu_queue(compose):
    worker = compose["services"]["worker-gpu"]
    [device] = worker["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and "gpu" in device["capabilities"]
    assert worker["command"] == [
        "python",
        "manage.py",
        "rundramatiq",
        "--queues",
        "gpu",
        "--processes",
        "1",
        "--threads",
        "1",
    ]
    assert worker["build"]["dockerfile"] == "docker/worker.Dockerfile"
    webhooks = compose["services"]["worker-webhooks"]["command"]
    assert webhooks[webhooks.index("--queues") + 1 : webhooks.index("--processes")] == [
        "webhooks",
        "maintenance",
        "billing",
    ]
    assert compose["services"]["scheduler"]["command"] == ["python", "manage.py", "run_scheduler"]


def test_build_contexts_and_dockerfiles_exist(compose):
    for service in compose["services"].values():
        build = service.get("build")
        if build:
            context = (DOCKER / build["context"]).resolve()
            assert context == ROOT
            assert (context / build["dockerfile"]).is_file()


def test_the_web_image_has_no_torch_and_the_worker_image_installs_cuda_wheels():
    web = (DOCKER / "web.Dockerfile").read_text()
    worker = (DOCKER / "worker.Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.12-slim$", web, re.M)
    assert "requirements/web.txt" in web and "ml.txt" not in web and "torch" not in web.lower().replace("no torch", "")
    assert "collectstatic" in web and "gunicorn" in web
    assert re.search(r"nvidia/cuda:[\d.]+-cudnn-runtime-ubuntu24\.04", worker)
    assert "download.pytorch.org/whl/cu" in worker
    assert "requirements/ml.txt" in worker
    assert "fetch_weights" in (DOCKER / "worker-entrypoint.sh").read_text()
    requirements = (ROOT / "requirements" / "web.txt").read_text().lower()
    assert "torch" not in re.sub(r"#.*", "", requirements)


def test_the_commands_the_images_run_exist():
    commands = get_commands()
    for name in ("migrate", "collectstatic", "rundramatiq", "run_scheduler", "fetch_weights"):
        assert name in commands, f"manage.py {name} does not exist"


def test_dockerignore_keeps_local_state_out_of_the_images():
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".git", ".venv", "var", "weights", "media"} <= ignored
