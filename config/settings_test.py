"""Test settings: the real PostgreSQL and Redis of this machine unless the environment says otherwise."""

import os
import tempfile

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/codeformer")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/15")
os.environ.setdefault("DRAMATIQ_NAMESPACE", "codeformer-test")
os.environ.setdefault("DJANGO_DEBUG", "true")  # development defaults; test_deploy_settings checks production
os.environ.setdefault("MEDIA_ROOT", tempfile.mkdtemp(prefix="codeformer-test-media-"))

from config.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}  # noqa: F405

# A database of its own per test process, so several runs on one machine cannot drop each
# other's test database mid-run.
DATABASES["default"]["TEST"] = {"NAME": f"test_codeformer_{os.getpid()}"}  # noqa: F405
STATIC_ROOT = tempfile.mkdtemp(prefix="codeformer-test-static-")
