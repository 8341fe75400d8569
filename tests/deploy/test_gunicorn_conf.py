"""gunicorn.conf.py: picked up by gunicorn started from the repository root, and its worker hook
freezes what start-up loaded."""

from __future__ import annotations

import gc
import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

from django.conf import settings as django_settings

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_gunicorn_started_from_the_repository_root_reads_the_hooks():
    result = subprocess.run(
        [str(Path(sys.executable).with_name("gunicorn")), "--print-config", "config.wsgi"],
        cwd=REPO_ROOT,
        env={**os.environ, "DJANGO_DEBUG": "true"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    settings = dict(
        (name.strip(), value.strip()) for name, _, value in (line.partition("=") for line in result.stdout.splitlines())
    )
    assert settings["config"] == "./gunicorn.conf.py"
    assert settings["post_worker_init"] == "<post_worker_init()>"
    # Threads (a stream or a Prefer: wait holds a thread, not a process), a timeout over the
    # longest wait a request may ask for, and the access log that redacts keys.
    assert (settings["worker_class"], settings["threads"], settings["workers"]) == ("gthread", "8", "4")
    assert int(settings["timeout"]) > django_settings.DEMO_SYNC_TIMEOUT_S
    assert settings["logger_class"] == "lib.gunicorn_log.RedactingLogger"


def test_every_web_command_line_leaves_the_worker_settings_to_the_config_file():
    for path, text in {
        "docker/web.Dockerfile": (REPO_ROOT / "docker" / "web.Dockerfile").read_text(),
        "docker/compose.yml": (REPO_ROOT / "docker" / "compose.yml").read_text(),
        "deploy/k8s/web.yaml": (REPO_ROOT / "deploy" / "k8s" / "web.yaml").read_text(),
        "Makefile": (REPO_ROOT / "Makefile").read_text(),
    }.items():
        lines = [line for line in text.splitlines() if "gunicorn" in line and "config.wsgi" in line]
        assert lines, path
        for line in lines:
            for option in ("--workers", "--worker-class", "--threads", "--timeout", "-k "):
                assert option not in line, (path, line)


def test_the_worker_hook_loads_the_views_and_freezes_the_start_up_objects():
    spec = importlib.util.spec_from_file_location("gunicorn_conf", REPO_ROOT / "gunicorn.conf.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    before = gc.get_freeze_count()
    try:
        module.post_worker_init(SimpleNamespace())
        assert gc.get_freeze_count() > before + 10_000
        assert "restoration.api.gateway" in sys.modules
    finally:
        gc.unfreeze()
