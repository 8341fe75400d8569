"""What a customer does in the dashboard, in Chromium, against a live server and a real worker:
restore a photo and watch it finish live, compare and download it; cancel a running job; create,
copy and revoke a key. The worker runs the suite's stand-in engine (tests/jobs/engines.py)."""

from __future__ import annotations

import io
import threading

from django.db.models import Sum
from PIL import Image
from playwright.sync_api import expect

from accounts.keys import authenticate_key
from accounts.models import Subscription
from billing.models import LedgerEntry, Wallet
from billing.money import format_money
from config.errors import ApplicationError
from jobs.models import Job
from tests.dashboard.conftest import png_bytes

Kind = LedgerEntry.Kind


def _hold_the_engine(engine) -> threading.Event:
    """Keep the next job PROCESSING (inside the engine) until the returned event is set."""
    gate = threading.Event()
    engine.gate = gate
    return gate


def _submit_a_photo(page, tmp_path, name="grandma_1962.png"):
    photo = tmp_path / name
    photo.write_bytes(png_bytes(48, 40))
    page.goto("/jobs/new/")
    page.locator("input[type=file][name=images]").set_input_files(str(photo))
    expect(page.locator("[data-file-list] li")).to_contain_text(name)
    page.get_by_role("button", name="Restore", exact=True).click()
    page.wait_for_url("**/jobs/codeformer-image-restoration_*/")
    return Job.objects.get()


def test_a_photo_restored_in_the_playground_completes_live_and_downloads(
    member_page, customer, gpu_worker, stand_in_engine, tmp_path
):
    page = member_page
    gate = _hold_the_engine(stand_in_engine)
    try:
        job = _submit_a_photo(page, tmp_path)
        page.evaluate("window.__samePage = true")  # gone if the page reloads
        expect(page.locator('[data-field="status"]')).to_have_text("Processing")
        expect(page.locator('[data-field="download"]')).to_be_hidden()
    finally:
        gate.set()

    expect(page.locator('[data-field="status"]')).to_have_text("Completed", timeout=30_000)
    assert page.evaluate("window.__samePage") is True  # updated by the event stream, not a reload
    expect(page.locator('[data-field="status-badge"]')).to_have_text("Completed")
    expect(page.locator('[data-field="logs"]')).to_contain_text("Completed: 96x80")
    expect(page.locator('[data-field="output-size"]')).to_contain_text("96\u00d780 px")
    expect(page.locator('[data-field="charged"]')).to_have_text(format_money(job.price))
    # The Details list fills in what only a final job has, still without a reload.
    facts = page.locator('[data-field="facts"]')
    for label in ("Started", "Finished", "Queue wait", "Processing", "Files kept until"):
        expect(facts).to_contain_text(label)
    assert page.evaluate("window.__samePage") is True
    assert "UTC" not in facts.locator("time").first.inner_text()  # shown in the viewer's own time

    # The before/after viewer: the restored image, then the divider moves.
    after = page.locator('[data-field="output-img"]')
    expect(after).to_be_visible()
    page.wait_for_function("() => document.querySelector('[data-field=\"output-img\"]').naturalWidth === 96")
    page.locator("[data-compare-range]").fill("20")
    assert "80%" in page.locator(".compare-before").evaluate("el => el.style.clipPath")
    page.get_by_role("button", name="200%").click()
    assert page.locator(".compare-stage").evaluate("el => el.style.width") == "192px"

    with page.expect_download() as download_info:
        page.locator('[data-field="download"]').click()
    download = download_info.value
    assert download.suggested_filename == "grandma_1962_restored.png"
    with Image.open(io.BytesIO(download.path().read_bytes())) as image:
        assert (image.format, image.size) == ("PNG", (96, 80))

    job.refresh_from_db()
    assert job.status == Job.Status.COMPLETED and job.source == Job.Source.DASHBOARD
    assert sorted(LedgerEntry.objects.filter(job=job).values_list("kind", flat=True)) == [Kind.CAPTURE, Kind.HOLD]
    wallet = Wallet.objects.get(organization=customer.organization)
    assert (wallet.balance, wallet.held) == (1000 - job.price, 0)


def test_a_batch_from_the_playground_turns_completed_in_the_list_without_a_reload(
    member_page, customer, gpu_worker, stand_in_engine, tmp_path
):
    page = member_page
    photos = []
    for name in ("one.png", "two.png"):
        photos.append(tmp_path / name)
        photos[-1].write_bytes(png_bytes(48, 40))
    gate = _hold_the_engine(stand_in_engine)
    try:
        page.goto("/jobs/new/")
        page.locator("input[type=file][name=images]").set_input_files([str(p) for p in photos])
        expect(page.locator("[data-file-list] li")).to_have_count(2)
        page.get_by_role("button", name="Restore", exact=True).click()
        page.wait_for_url("**/jobs/?ids=*")
        expect(page.locator("#jobs-list")).to_have_attribute("data-in-flight", "")
        page.evaluate("window.__samePage = true")
    finally:
        gate.set()
    badges = page.locator("#jobs-list .badge")
    expect(badges).to_have_text(["Completed", "Completed"], timeout=30_000)
    assert page.evaluate("window.__samePage") is True  # swapped in place, not reloaded
    expect(page.locator("#jobs-list")).not_to_have_attribute("data-in-flight", "")
    assert set(Job.objects.values_list("status", flat=True)) == {Job.Status.COMPLETED}


def test_a_running_job_canceled_from_its_page_ends_canceled_and_uncharged(
    member_page, customer, gpu_worker, stand_in_engine, tmp_path
):
    page = member_page
    gate = _hold_the_engine(stand_in_engine)
    try:
        job = _submit_a_photo(page, tmp_path)
        expect(page.locator('[data-field="status"]')).to_have_text("Processing")
        page.once("dialog", lambda dialog: dialog.accept())
        page.get_by_role("button", name="Cancel job").click()

        expect(page.locator(".messages")).to_contain_text("canceled")
        expect(page.locator('[data-field="status"]')).to_have_text("Canceled")
        expect(page.locator('[data-field="charged"]')).to_have_text("not charged")
        expect(page.get_by_role("button", name="Cancel job")).to_be_hidden()
    finally:
        gate.set()  # the engine finishes; the worker must throw its result away

    gpu_worker.join()
    job.refresh_from_db()
    assert job.status == Job.Status.CANCELED
    assert not job.output_file.name
    assert sorted(LedgerEntry.objects.filter(job=job).values_list("kind", flat=True)) == [Kind.HOLD, Kind.RELEASE]
    wallet = Wallet.objects.get(organization=customer.organization)
    assert (wallet.balance, wallet.held) == (1000, 0)
    assert LedgerEntry.objects.filter(job=job).aggregate(total=Sum("amount"))["total"] == 0


def test_a_key_is_created_copied_and_revoked(member_page, customer):
    page = member_page
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.goto("/keys/")

    page.get_by_label("Name").fill("Production server")
    page.get_by_role("button", name="Create keys").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Keys for “Production server”")
    shown = page.locator("[data-secret=primary]").inner_text()
    page.get_by_role("button", name="Copy the primary key").click()
    expect(page.get_by_role("button", name="Copy the primary key")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == shown
    assert authenticate_key(shown).subscription.name == "Production server"  # the copied key works

    page.get_by_role("link", name="I have stored them").click()
    row = page.locator("tr", has_text="Production server")
    expect(row).to_contain_text("cf_" + shown.split("_")[1])
    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Revoke").click()

    expect(page.locator(".messages")).to_contain_text("“Production server” is revoked")
    assert Subscription.objects.get(name="Production server").revoked_at is not None
    try:
        authenticate_key(shown)
    except ApplicationError as exc:
        assert exc.status_code == 403
    else:
        raise AssertionError("a revoked key still authenticates")
