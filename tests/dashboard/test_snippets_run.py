"""The quick start's gateway examples run as printed: against a live server and a real worker,
the Python one (requests) and the JavaScript one (Node's fetch) submit a photo, poll politely and
print the finished status with the result's URL. A rate-limited poll waits as Retry-After says
instead of crashing (the loop once died with KeyError on the 429's body)."""

from __future__ import annotations

import contextlib
import gc
import io
import shutil
import subprocess
import threading
import time

import pytest

from billing.models import Plan
from restoration.dashboard.snippets import quickstart_snippets
from tests.accounts.factories import OrganizationFactory, make_key
from tests.dashboard.conftest import png_bytes
from tests.jobs.conftest import broker, fake_engine, worker  # noqa: F401 - fixtures

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("worker", "fake_engine")]


def _gateway_code(base_url: str, key: str, language: str) -> str:
    gateway = quickstart_snippets(base_url=base_url, key=key)[0]
    assert gateway.api == "gateway"
    return next(snippet for snippet in gateway.snippets if snippet.lang == language).code


@pytest.fixture
def organization(db):
    return OrganizationFactory(name="Snippet Studio", initial_credit=1000)


@pytest.fixture
def customer_key(organization):
    return make_key(organization)[1]


@pytest.fixture
def photo_dir(tmp_path, monkeypatch):
    (tmp_path / "photo.jpg").write_bytes(png_bytes())  # the examples upload ./photo.jpg
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def quick_sleep(monkeypatch):
    """The examples wait 5 s between polls; here a fraction of it, recording what they asked."""
    asked: list[float] = []
    real_sleep = time.sleep

    def sleep(seconds):
        if threading.current_thread() is not threading.main_thread():
            return real_sleep(seconds)  # the live server's and the worker's own waits
        asked.append(seconds)
        return real_sleep(min(seconds, 0.05))

    monkeypatch.setattr(time, "sleep", sleep)
    return asked


def _run_python(code: str) -> str:
    out = io.StringIO()
    namespace = {"__name__": "__main__"}
    try:
        with contextlib.redirect_stdout(out):
            exec(compile(code, "quickstart.py", "exec"), namespace)
    finally:
        # As when the script's process exits: its last response lets go of its socket, so the live
        # server's request thread ends and closes its database connection (left open, it kept
        # the test database from being dropped at the end of the run).
        namespace.clear()
        gc.collect()
    return out.getvalue()


def test_the_python_example_submits_polls_and_prints_the_result(live_server, customer_key, photo_dir, quick_sleep):
    printed = _run_python(_gateway_code(live_server.url, customer_key, "python"))
    assert printed.startswith("COMPLETED ")
    assert printed.split()[1].startswith(live_server.url)  # the result's signed URL
    assert 5 in quick_sleep  # it polls every 5 s, not every second


def test_the_python_example_waits_out_a_rate_limited_poll(
    live_server, organization, customer_key, photo_dir, quick_sleep, steady_minute
):
    Plan.objects.filter(pk=organization.plan_id).update(requests_per_minute=1)  # the submission, then 429s
    recorded = time.sleep

    def sleep(seconds):
        recorded(seconds)
        if (
            threading.current_thread() is threading.main_thread() and seconds != 5
        ):  # the wait a 429's Retry-After asked for: the next minute, in effect
            Plan.objects.filter(pk=organization.plan_id).update(requests_per_minute=1000)

    time.sleep = sleep  # undone with quick_sleep's monkeypatch
    # A SystemExit here would be the example giving up on the 429.
    printed = _run_python(_gateway_code(live_server.url, customer_key, "python"))
    # It kept polling through the 429s (each waited Retry-After, capped at 60 s) until the end.
    assert printed.startswith("COMPLETED ")
    assert any(1 <= seconds <= 60 and seconds != 5 for seconds in quick_sleep), quick_sleep


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed")
def test_the_javascript_example_runs_in_node(live_server, customer_key, photo_dir):
    code = _gateway_code(live_server.url, customer_key, "javascript")
    script = photo_dir / "quickstart.mjs"
    # The example's comment says where openAsBlob comes from in Node; a module imports it.
    script.write_text('import { openAsBlob } from "node:fs";\n' + code)
    done = subprocess.run(["node", str(script)], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("COMPLETED ")
