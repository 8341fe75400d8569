"""Settings that bound the dependencies and the recovery of work, read in fresh processes (the
same way tests/test_deploy_settings.py reads the production defaults)."""

from __future__ import annotations

import pytest

from tests.test_deploy_settings import PRODUCTION_ENV, _settings

SERVICES = {
    **PRODUCTION_ENV,
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/codeformer",
    "REDIS_URL": "redis://127.0.0.1:6379/1",
}


def test_redis_clients_and_the_database_connect_have_short_timeouts_by_default():
    done = _settings(
        "(s.REDIS_CONNECTION_OPTIONS, s.REDIS_FAIL_OPEN_S, s.DATABASES['default']['OPTIONS']['connect_timeout'],"
        " s.DRAMATIQ_BROKER['OPTIONS']['connection_pool'].connection_kwargs['socket_timeout'],"
        " s.CACHES['default']['OPTIONS'])",
        **SERVICES,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        "({'socket_connect_timeout': 0.5, 'socket_timeout': 0.5}, 15, 5, 0.5, "
        "{'socket_connect_timeout': 0.5, 'socket_timeout': 0.5})"
    )


def test_the_redis_timeouts_can_be_set_from_the_environment():
    done = _settings(
        "s.REDIS_CONNECTION_OPTIONS",
        **SERVICES,
        REDIS_SOCKET_TIMEOUT_S="0.25",
        REDIS_SOCKET_CONNECT_TIMEOUT_S="0.3",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "{'socket_connect_timeout': 0.3, 'socket_timeout': 0.25}"


@pytest.mark.parametrize(
    ("name", "value"),
    [("REDIS_SOCKET_TIMEOUT_S", "soon"), ("REDIS_SOCKET_TIMEOUT_S", "0"), ("DB_CONNECT_TIMEOUT_S", "1")],
)
def test_a_bad_timeout_refuses_to_start(name, value):
    done = _settings("1", **SERVICES, **{name: value})
    assert done.returncode != 0
    assert "ImproperlyConfigured" in done.stderr and name in done.stderr


def test_a_dead_worker_is_found_within_about_a_minute_by_default():
    done = _settings("(s.WORKER_HEARTBEAT_S, s.WORKER_DEAD_AFTER_S, s.JOB_SWEEP_INTERVAL_S)", **SERVICES)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "(15, 45, 15)"


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"JOB_TIME_LIMIT_S": "900", "JOB_STALE_AFTER_S": "900"}, "JOB_STALE_AFTER_S"),
        ({"JOB_TIME_LIMIT_S": "900", "JOB_STALE_AFTER_S": "600"}, "JOB_STALE_AFTER_S"),
        ({"WORKER_HEARTBEAT_S": "30", "WORKER_DEAD_AFTER_S": "30"}, "WORKER_DEAD_AFTER_S"),
        ({"WORKER_HEARTBEAT_S": "60"}, None),  # the dead window follows the interval: fine
    ],
)
def test_settings_that_would_requeue_running_jobs_refuse_to_start(env, named):
    done = _settings("(s.JOB_STALE_AFTER_S, s.WORKER_DEAD_AFTER_S)", **SERVICES, **env)
    if named is None:
        assert done.returncode == 0, done.stderr
        return
    assert done.returncode != 0
    assert "ImproperlyConfigured" in done.stderr and named in done.stderr
