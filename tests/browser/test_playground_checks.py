"""The playground checks each chosen photo in the browser, against the limits the server renders
into the page, and says why the Restore button is off right next to it: a file over the upload
limit, or one the browser cannot decode as an image. A good photo turns the button back on."""

from __future__ import annotations

import io
import os

from PIL import Image
from playwright.sync_api import expect

from jobs.engine import PIPELINE_FACTORY
from jobs.models import Job
from tests.dashboard.conftest import png_bytes


def _noisy_png(size: int = 64) -> bytes:
    """A PNG that does not compress: about 3 bytes a pixel."""
    buffer = io.BytesIO()
    Image.frombytes("RGB", (size, size), os.urandom(size * size * 3)).save(buffer, format="PNG")
    return buffer.getvalue()


def _choose(page, path):
    page.locator("input[type=file][name=images]").set_input_files(str(path))


def test_a_file_over_the_upload_limit_is_flagged_at_once_and_keeps_restore_off(
    member_page, customer, stand_in_engine, settings, tmp_path
):
    settings.MAX_UPLOAD_BYTES = 4 * 1024  # read from the page, so the script follows the server
    big = tmp_path / "big.png"
    big.write_bytes(_noisy_png())
    assert big.stat().st_size > 4 * 1024
    good = tmp_path / "good.png"
    good.write_bytes(png_bytes(48, 40))
    page = member_page
    page.goto("/jobs/new/")
    button = page.get_by_role("button", name="Restore", exact=True)
    reason = page.locator("[data-submit-reason]")
    expect(button).to_be_enabled()
    expect(reason).to_be_hidden()

    _choose(page, big)

    expect(page.locator("[data-file-list] li.bad")).to_contain_text("over the limit of 4 KB per photo")
    expect(button).to_be_disabled()
    expect(reason).to_be_visible()
    expect(reason).to_contain_text("big.png is")
    expect(reason).to_contain_text("over the limit of 4 KB per photo")
    assert page.locator("[data-file-list] img").count() == 0  # no broken thumbnail

    _choose(page, good)
    expect(button).to_be_enabled()
    expect(reason).to_be_hidden()
    expect(page.locator("[data-file-list] li.bad")).to_have_count(0)
    expect(page.locator("[data-file-list] img")).to_have_count(1)


def test_a_text_file_named_png_is_flagged_as_not_an_image(member_page, customer, stand_in_engine, tmp_path):
    fake = tmp_path / "fake.png"
    fake.write_text("this is not a picture at all\n")
    page = member_page
    page.goto("/jobs/new/")

    _choose(page, fake)

    button = page.get_by_role("button", name="Restore", exact=True)
    reason = page.locator("[data-submit-reason]")
    expect(reason).to_contain_text("fake.png cannot be read as an image")
    expect(button).to_be_disabled()
    expect(page.locator("[data-file-list] li.bad")).to_have_count(1)
    expect(page.locator("[data-file-list] img")).to_have_count(0)
    # Choosing a sample instead clears the bad file and its reason.
    page.locator("label.sample").first.click()
    expect(button).to_be_enabled()
    expect(reason).to_be_hidden()
    assert Job.objects.count() == 0


def test_the_help_text_names_the_formats_the_server_accepts(member_page, customer):
    page = member_page
    page.goto("/jobs/new/")
    expect(page.locator("[data-dropzone] .help")).to_contain_text("PNG, JPEG, WEBP, BMP or TIFF, up to 20 MB each")


def test_while_restorations_are_unavailable_a_good_photo_does_not_turn_restore_on(
    member_page, customer, settings, tmp_path
):
    settings.RESTORATION_ENGINE = PIPELINE_FACTORY  # the production pipeline, with no weights installed
    settings.WEIGHTS_DIR = tmp_path / "no-weights"
    good = tmp_path / "good.png"
    good.write_bytes(png_bytes(48, 40))
    page = member_page
    page.goto("/jobs/new/")
    button = page.get_by_role("button", name="Restore", exact=True)
    reason = page.locator("[data-submit-reason]")
    expect(reason).to_contain_text("Restorations are temporarily unavailable")

    _choose(page, good)

    expect(page.locator("[data-file-list] img")).to_have_count(1)
    expect(button).to_be_disabled()
    expect(reason).to_contain_text("Restorations are temporarily unavailable")
