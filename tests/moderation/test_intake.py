"""PDQ hashes of every input and output, and known-bad images refused at intake: a 400 in the
documented shape, nothing charged, no file kept, a queue item opened."""

from __future__ import annotations

import base64
import io
import threading

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, connections, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from PIL import Image

from accounts.models import Organization
from billing.models import LedgerEntry, Plan, Wallet
from jobs.models import Job
from lib.pdq import hamming_distance, pdq_of_bytes
from moderation.models import BlockedHash, ImageHash, ModerationItem
from tests.moderation.conftest import GENERATE_URL, completed_job, media_files, reencoded

pytestmark = pytest.mark.django_db


def generate(tenant, data: bytes):
    body = {"image_base64": "data:image/jpeg;base64," + base64.b64encode(data).decode()}
    return tenant.api().post(GENERATE_URL, body, format="json")


def block(data: bytes, reason: str = "Known abusive image") -> BlockedHash:
    return BlockedHash.objects.create(pdq_hash=pdq_of_bytes(data).hex, reason=reason)


def test_pdq_matches_a_resized_reencoded_copy_and_tells_different_photos_apart(photo, other_photo):
    original = pdq_of_bytes(photo)
    copy = pdq_of_bytes(reencoded(photo, scale=0.5, quality=40))
    png_copy = pdq_of_bytes(reencoded(photo, scale=1.7, fmt="PNG"))
    different = pdq_of_bytes(other_photo)
    assert original.quality >= 50 and len(original.hex) == 64
    assert hamming_distance(original.hex, copy.hex) <= 31
    assert hamming_distance(original.hex, png_copy.hex) <= 31
    assert hamming_distance(original.hex, different.hex) > 31


@pytest.fixture(params=["in the admission", "own query", "scan"])
def screen_path(request, monkeypatch):
    """The three ways a match is found: inside the admission statement (PostgreSQL), as a query of
    its own before the admission's transaction (the separate-statements admission), and by
    scanning the rows in Python (SQLite)."""
    if request.param == "own query":
        monkeypatch.setattr("billing.services.one_statement_holds", lambda connection: False)
    elif request.param == "scan":
        monkeypatch.setattr("moderation.screening.matched_in_admission", lambda using: False)
    return request.param


def test_a_blocked_image_is_refused_at_intake_without_charge_or_files(acme, photo, _media_root, screen_path):
    block(photo)
    ledger_before = LedgerEntry.objects.count()

    response = generate(acme, photo)

    assert response.status_code == 400
    body = response.json()
    assert set(body) == {"error", "message"} and body["error"] == "Bad Request"
    assert "blocked" in body["message"]
    assert not Job.objects.exists()
    assert LedgerEntry.objects.count() == ledger_before
    wallet = Wallet.objects.get(organization=acme.org)
    assert (wallet.balance, wallet.held) == (1000, 0)
    assert media_files(_media_root) == []
    item = ModerationItem.objects.get()
    assert item.origin == ModerationItem.Origin.BLOCKLIST and item.status == ModerationItem.Status.OPEN
    assert item.organization_id == acme.org.id and item.api_key_id == acme.api_key.id
    assert item.source == "gateway" and item.job is None and item.match_distance == 0
    assert item.pdq_hash == pdq_of_bytes(photo).hex
    # The customer gets the item's reference to quote, and staff find the item by it.
    assert f"Reference: {item.request_id} (quote it if you write to us)" in body["message"]
    assert item.request_id.startswith("refused_")


def test_the_same_image_sent_again_adds_no_second_queue_item(acme, photo, admin_client, screen_path):
    block(photo)
    first = generate(acme, photo).json()["message"]
    again = generate(acme, photo).json()["message"]
    item = ModerationItem.objects.get()  # one item, however often a client retries
    assert item.request_id in first and item.request_id in again
    found = admin_client.get(reverse("staff:request_lookup"), {"q": item.request_id})
    assert found.status_code == 302 and str(item.id) in found["Location"]
    # Once staff have dealt with it, a new attempt opens a new item.
    ModerationItem.objects.filter(pk=item.pk).update(status=ModerationItem.Status.DISMISSED)
    generate(acme, photo)
    assert ModerationItem.objects.count() == 2


def test_a_resized_reencoded_copy_of_a_blocked_image_is_refused_too(acme, photo, _media_root, screen_path):
    block(photo)
    copy = reencoded(photo, scale=0.6, quality=50)
    assert copy != photo

    response = generate(acme, copy)

    assert response.status_code == 400
    assert not Job.objects.exists() and media_files(_media_root) == []
    assert Wallet.objects.get(organization=acme.org).held == 0
    item = ModerationItem.objects.get()
    assert 0 < item.match_distance <= 31


def test_a_multipart_upload_and_the_demo_api_are_screened_the_same_way(acme, photo, _media_root):
    block(photo)
    upload = SimpleUploadedFile("p.jpg", reencoded(photo, scale=0.8), content_type="image/jpeg")
    response = acme.api().post(GENERATE_URL, {"image": upload}, format="multipart")
    assert response.status_code == 400
    demo = acme.api().post("/api/process", {"image_base64": base64.b64encode(photo).decode()}, format="json")
    assert demo.status_code == 400 and demo.json()["status"] == "error"
    assert not Job.objects.exists() and media_files(_media_root) == []
    assert ModerationItem.objects.filter(origin=ModerationItem.Origin.BLOCKLIST).count() == 2


def test_one_blocked_image_refuses_the_whole_request(acme, photo, other_photo, _media_root, screen_path):
    block(photo)
    body = {
        "images_base64": [
            "data:image/jpeg;base64," + base64.b64encode(other_photo).decode(),
            "data:image/jpeg;base64," + base64.b64encode(photo).decode(),
        ]
    }
    response = acme.api().post("/api/process", body, format="json")
    assert response.status_code == 400
    assert not Job.objects.exists() and media_files(_media_root) == []
    assert not ImageHash.objects.exists() and not LedgerEntry.objects.filter(job__isnull=False).exists()
    # The queue item names the image that matched, the second.
    assert ModerationItem.objects.get().pdq_hash == pdq_of_bytes(photo).hex


def test_of_two_blocked_images_the_first_is_the_one_reported(acme, photo, other_photo, screen_path):
    block(photo, reason="first")
    block(other_photo, reason="second")
    body = {"images_base64": [base64.b64encode(other_photo).decode(), base64.b64encode(photo).decode()]}
    assert acme.api().post("/api/process", body, format="json").status_code == 400
    item = ModerationItem.objects.get()
    assert item.pdq_hash == pdq_of_bytes(other_photo).hex and "second" in item.reason


def test_a_blocked_image_is_refused_before_the_cap_on_jobs_in_flight(acme, photo, _media_root, screen_path):
    # The match is decided before the wallet's conditional UPDATE, whose cap would refuse (429).
    plan = Plan.objects.create(code="tight-acme", name="Tight", max_jobs_in_flight=0)
    Organization.objects.filter(pk=acme.org.pk).update(plan=plan)
    block(photo)

    response = generate(acme, photo)

    assert response.status_code == 400 and "blocked" in response.json()["message"]
    wallet = Wallet.objects.get(organization=acme.org)
    assert (wallet.balance, wallet.held, wallet.in_flight) == (1000, 0, 0)
    assert ModerationItem.objects.count() == 1 and media_files(_media_root) == []


@pytest.mark.django_db(transaction=True)
def test_a_blocked_image_is_refused_without_waiting_for_the_wallet_lock(acme, photo, _media_root):
    # Another transaction holds the hot wallet row (a concurrent admission, a top-up). The match
    # is an init plan that the UPDATE's one-time filter reads: a matched request never touches
    # the row, so it answers at once. Were it to wait, the lock timeout would fail it.
    block(photo)
    locked, done = threading.Event(), threading.Event()

    def hold_the_wallet_row():
        try:
            with transaction.atomic():
                Wallet.objects.select_for_update().get(organization=acme.org)
                locked.set()
                done.wait(30)
        finally:
            connections.close_all()

    holder = threading.Thread(target=hold_the_wallet_row)
    holder.start()
    try:
        assert locked.wait(10)
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '2s'")
        response = generate(acme, photo)
    finally:
        done.set()
        holder.join()
        with connection.cursor() as cursor:
            cursor.execute("RESET lock_timeout")
    assert response.status_code == 400 and "blocked" in response.json()["message"]
    assert ModerationItem.objects.count() == 1


def test_an_unrelated_photo_goes_through_and_its_hashes_are_recorded(acme, photo, other_photo):
    block(other_photo)
    job = completed_job(acme.org, photo)
    assert job.status == Job.Status.COMPLETED
    hashes = {h.kind: h for h in ImageHash.objects.filter(job=job)}
    assert set(hashes) == {"input", "output"}
    assert hashes["input"].pdq_hash == pdq_of_bytes(photo).hex
    # The stand-in engine upscales 2x: the output is the same picture, so its hash is close.
    assert hamming_distance(hashes["input"].pdq_hash, hashes["output"].pdq_hash) <= 31


def test_a_flat_image_never_matches_whatever_the_blocklist_holds(acme, _media_root):
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (120, 120, 120)).save(buffer, format="PNG")
    flat = buffer.getvalue()
    assert pdq_of_bytes(flat).quality < 50
    BlockedHash.objects.create(pdq_hash=pdq_of_bytes(flat).hex, reason="flat")
    response = generate(acme, flat)
    assert response.status_code == 202


def test_staff_add_a_hash_and_import_a_file_of_hashes(admin_client, photo, other_photo):
    first = pdq_of_bytes(photo).hex
    second = pdq_of_bytes(other_photo).hex
    url = reverse("moderation:blocklist")
    response = admin_client.post(url, {"add-pdq_hash": first.upper(), "add-reason": "NCMEC list"})
    assert response.status_code == 302
    again = admin_client.post(url, {"add-pdq_hash": first, "add-reason": "Other list"}, follow=True)
    assert "already on the blocklist" in again.content.decode() and "why: NCMEC list" in again.content.decode()
    assert BlockedHash.objects.get(pdq_hash=first).reason == "NCMEC list"  # the first entry stands
    listing = f"hash,source\n# from a partner\n{first},x\n{second},y\n\n".encode()
    response = admin_client.post(
        url,
        {"import-file": SimpleUploadedFile("hashes.csv", listing, content_type="text/csv"), "import-reason": "Partner"},
    )
    assert response.status_code == 302
    assert set(BlockedHash.objects.values_list("pdq_hash", flat=True)) == {first, second}
    assert BlockedHash.objects.get(pdq_hash=second).reason == "Partner"
    # The import (a bulk insert auditlog does not hear) is in the trail with its outcome and why.
    trail = admin_client.get(reverse("moderation:audit"), {"type": "blocklist"}).content.decode()
    assert "blocklist import" in trail and "1 added, 1 already blocked" in trail and "why: Partner" in trail


def test_a_file_with_a_malformed_line_imports_nothing(admin_client, photo):
    listing = f"{pdq_of_bytes(photo).hex}\nnot-a-hash\n".encode()
    response = admin_client.post(
        reverse("moderation:blocklist"),
        {"import-file": SimpleUploadedFile("h.txt", listing), "import-reason": "Partner"},
    )
    assert response.status_code == 400
    assert "Line 2" in response.content.decode()
    assert "Nothing was imported: fix or remove that line and import the file again." in response.content.decode()
    assert not BlockedHash.objects.exists()


def test_support_cannot_change_the_blocklist(support_client, photo):
    response = support_client.post(
        reverse("moderation:blocklist"), {"add-pdq_hash": pdq_of_bytes(photo).hex, "add-reason": "x"}
    )
    assert response.status_code == 403
    assert not BlockedHash.objects.exists()


def test_screening_a_photo_costs_an_accepted_submission_no_statement_of_its_own(acme, photo, other_photo):
    # The blocklist is matched inside the admission: the key's look-up and the admission are all
    # the SQL an accepted submission sends.
    block(other_photo)
    client = acme.api()
    generate(acme, photo)  # the first request opens connections and fills the process's caches
    with CaptureQueriesContext(connection) as queries:
        response = client.post(
            GENERATE_URL, {"image_base64": base64.b64encode(reencoded(photo)).decode()}, format="json"
        )
    assert response.status_code == 202, response.content
    # Savepoints are the test's transaction (a request's statements run in autocommit).
    sent = [query["sql"] for query in queries.captured_queries if "SAVEPOINT" not in query["sql"]]
    assert len(sent) == 2, sent
    assert "api_key" in sent[0] or "apikey" in sent[0]
    assert "WITH" in sent[1] and "moderation_blockedhash" in sent[1] and "billing_wallet" in sent[1]
