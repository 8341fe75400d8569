"""Production-safe settings: what `config.settings` does with no DJANGO_DEBUG, run in fresh processes.

Each case imports the real settings module (or runs the real `manage.py check --deploy`) in a
subprocess with a controlled environment, so the defaults are what a fresh production process gets.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# The documented production environment (README "Production settings"), minus the services.
PRODUCTION_ENV = {
    "SECRET_KEY": "a-production-secret-of-enough-length-and-variety-9f3Kq!xZ2@Lm7#Rt",
    "ALLOWED_HOSTS": "api.example.com",
}


def _environ(**overrides: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "SECURE_", "SESSION_", "CSRF_"))}
    env.pop("SECRET_KEY", None)
    env.pop("ALLOWED_HOSTS", None)
    env["DJANGO_SETTINGS_MODULE"] = "config.settings"
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def _settings(expr: str, **env: str | None) -> subprocess.CompletedProcess:
    code = f"import django.conf as c, config.settings as s; print(repr({expr}))"
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=_environ(**env), capture_output=True, text=True, timeout=120
    )


def test_debug_is_off_and_https_on_when_nothing_is_set():
    done = _settings(
        "(s.DEBUG, s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE,"
        " s.SECURE_PROXY_SSL_HEADER)",
        **PRODUCTION_ENV,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "(False, True, 31536000, True, True, ('HTTP_X_FORWARDED_PROTO', 'https'))"


@pytest.mark.parametrize("missing", ["SECRET_KEY", "ALLOWED_HOSTS"])
def test_production_refuses_to_start_without(missing):
    done = _settings("s.DEBUG", **{**PRODUCTION_ENV, missing: None})
    assert done.returncode != 0
    assert "ImproperlyConfigured" in done.stderr and missing in done.stderr


def test_debug_keeps_the_development_defaults():
    done = _settings("(s.DEBUG, s.ALLOWED_HOSTS, s.SECURE_SSL_REDIRECT, s.SESSION_COOKIE_SECURE)", DJANGO_DEBUG="true")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "(True, ['*'], False, False)"


def test_a_malformed_proxy_header_is_refused():
    done = _settings("s.SECURE_PROXY_SSL_HEADER", **PRODUCTION_ENV, SECURE_PROXY_SSL_HEADER="X-Forwarded-Proto")
    assert done.returncode != 0
    assert "SECURE_PROXY_SSL_HEADER" in done.stderr


def test_check_deploy_is_clean_with_the_documented_production_environment():
    done = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=_environ(**PRODUCTION_ENV),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no issues" in done.stdout


def test_the_health_probe_is_not_redirected_to_https(client, settings):
    settings.SECURE_SSL_REDIRECT = True
    assert client.get("/api/health").status_code != 301
    assert client.get("/api/v1/restorations").status_code == 301


def test_a_production_deployment_is_commercial_unless_its_operator_says_otherwise():
    # A paid service sells restorations: CodeFormer's non-commercial weights are refused there
    # until COMMERCIAL_LICENCE_GRANTED records permission, or the operator declares otherwise.
    assert _settings("s.COMMERCIAL_DEPLOYMENT", **PRODUCTION_ENV).stdout.strip() == "True"
    declared = _settings("s.COMMERCIAL_DEPLOYMENT", **PRODUCTION_ENV, COMMERCIAL_DEPLOYMENT="false")
    assert declared.stdout.strip() == "False"
    assert _settings("s.COMMERCIAL_DEPLOYMENT", DJANGO_DEBUG="true").stdout.strip() == "False"  # make run


def test_the_embedded_database_folder_is_made_on_a_fresh_clone(tmp_path):
    var = tmp_path / "fresh-clone" / "var"
    done = _settings("s.DATABASES['default']['NAME']", DJANGO_DEBUG="true", DATABASE_URL=None, VAR_DIR=str(var))
    assert done.returncode == 0, done.stderr
    assert var.is_dir() and done.stdout.strip() == repr(str(var / "db.sqlite3"))
