"""deploy/k8s: every manifest is valid against Kubernetes' own schemas (kubernetes-validate,
offline), points at commands and probe paths that exist, and the KEDA trigger reads the Redis
list where a real Dramatiq broker keeps the gpu queue's waiting messages."""

from __future__ import annotations

import contextlib
from pathlib import Path

import dramatiq
import kubernetes_validate
import pytest
import redis
import yaml
from django.conf import settings
from django.core.management import get_commands
from django.urls import resolve
from dramatiq.brokers.redis import RedisBroker

from jobs.metrics import queue_depths, queue_key

K8S = Path(__file__).resolve().parents[2] / "deploy" / "k8s"
KUBERNETES_VERSION = "1.37.0"


def documents() -> list[dict]:
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        docs.extend(doc for doc in yaml.safe_load_all(path.read_text()) if doc)
    return docs


def by_kind(kind: str) -> dict[str, dict]:
    return {doc["metadata"]["name"]: doc for doc in documents() if doc["kind"] == kind}


def containers() -> list[dict]:
    pods = [doc["spec"]["template"]["spec"] for doc in documents() if doc["kind"] in ("Deployment", "Job")]
    return [container for pod in pods for container in pod["containers"]]


@pytest.mark.parametrize(
    "doc",
    [d for d in documents() if d["kind"] != "ScaledObject"],
    ids=lambda d: d["kind"] + "/" + d["metadata"]["name"],
)
def test_each_manifest_is_valid_kubernetes(doc):
    kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_the_fleet_has_web_gpu_and_webhook_workers_a_scheduler_and_a_migration():
    assert set(by_kind("Deployment")) == {
        "codeformer-web",
        "codeformer-gpu-worker",
        "codeformer-webhook-worker",
        "codeformer-scheduler",
    }
    assert set(by_kind("Job")) == {"codeformer-migrate"}
    assert by_kind("Deployment")["codeformer-scheduler"]["spec"]["replicas"] == 1


def test_every_container_asks_for_resources_and_runs_a_real_command():
    commands = get_commands()
    for container in containers():
        assert container["resources"]["requests"], container["name"]
        command = container["command"]
        if command[:2] == ["python", "manage.py"]:
            assert command[2] in commands, command
        else:
            assert command[0] == "gunicorn" and command[1] == "config.wsgi"
    gpu = by_kind("Deployment")["codeformer-gpu-worker"]["spec"]["template"]["spec"]["containers"][0]
    assert gpu["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert gpu["command"][-4:] == ["--processes", "1", "--threads", "1"]


def test_the_web_probes_name_the_health_endpoint():
    web = by_kind("Deployment")["codeformer-web"]["spec"]["template"]["spec"]["containers"][0]
    path = web["readinessProbe"]["httpGet"]["path"]
    assert resolve(path).url_name == "health"
    assert "tcpSocket" in web["livenessProbe"]  # a database outage must not restart the web pods


def test_the_gpu_worker_grace_period_covers_a_job():
    pod = by_kind("Deployment")["codeformer-gpu-worker"]["spec"]["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] > settings.JOB_TIME_LIMIT_S


def test_the_scaled_object_targets_the_gpu_worker_and_its_queue():
    (scaled,) = by_kind("ScaledObject").values()
    assert scaled["apiVersion"] == "keda.sh/v1alpha1"
    assert scaled["spec"]["scaleTargetRef"]["name"] in by_kind("Deployment")
    assert scaled["spec"]["scaleTargetRef"]["name"] == "codeformer-gpu-worker"
    (trigger,) = scaled["spec"]["triggers"]
    assert trigger["type"] == "redis"
    namespace = by_kind("ConfigMap")["codeformer-config"]["data"]["DRAMATIQ_NAMESPACE"]
    assert trigger["metadata"]["listName"] == f"{namespace}:gpu"
    assert int(trigger["metadata"]["listLength"]) >= 1
    assert 1 <= scaled["spec"]["minReplicaCount"] <= scaled["spec"]["maxReplicaCount"]


def test_the_list_keda_reads_holds_exactly_the_queued_gpu_messages():
    """Against the real Redis: a broker named as the ConfigMap names it, five messages sent to the
    gpu queue, nobody consuming. LLEN of the trigger's list is five, as our own gauge says."""
    (scaled,) = by_kind("ScaledObject").values()
    list_name = scaled["spec"]["triggers"][0]["metadata"]["listName"]
    namespace = by_kind("ConfigMap")["codeformer-config"]["data"]["DRAMATIQ_NAMESPACE"]
    client = redis.Redis.from_url(settings.REDIS_URL)
    broker = RedisBroker(client=client, namespace=namespace)
    try:
        actor = dramatiq.actor(lambda job_id: None, broker=broker, queue_name="gpu", actor_name="process_job")
        for number in range(5):
            actor.send(f"job-{number}")
        assert queue_key("gpu", broker) == list_name
        assert client.llen(list_name) == 5
        assert queue_depths(broker)["gpu"] == 5
    finally:
        broker.flush_all()
        broker.close()


def test_the_schema_check_refuses_a_broken_manifest():
    broken = by_kind("Deployment")["codeformer-web"]
    broken["spec"]["replicas"] = "two"
    broken["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["tcpSocket"]["prot"] = 1
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_every_queue_the_code_declares_is_consumed_by_a_deployment():
    from django.apps import apps

    import jobs.actors  # noqa: F401 - declares the job queues

    for config in apps.get_app_configs():  # each app's actors module declares its queues
        with contextlib.suppress(ModuleNotFoundError):
            __import__(f"{config.name}.actors")
    declared = {name for name in dramatiq.get_broker().get_declared_queues() if not name.endswith((".DQ", ".XQ"))}
    consumed = set()
    for container in containers():
        command = container["command"]
        if "rundramatiq" in command:
            after = command[command.index("--queues") + 1 :]
            consumed.update(
                arg for arg in after[: next((i for i, a in enumerate(after) if a.startswith("--")), len(after))]
            )
    assert declared <= consumed, f"no deployment consumes {sorted(declared - consumed)}"
