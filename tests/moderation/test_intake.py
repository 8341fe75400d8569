"""PDQ hashes of every input and output, and known-bad images refused at intake: a 400 in the
documented shape, nothing charged, no file kept, a queue item opened."""

from __future__ import annotations

import base64
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image

from billing.models import LedgerEntry, Wallet
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


def test_a_blocked_image_is_refused_at_intake_without_charge_or_files(acme, photo, _media_root):
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


def test_a_resized_reencoded_copy_of_a_blocked_image_is_refused_too(acme, photo, _media_root):
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


def test_one_blocked_image_refuses_the_whole_request(acme, photo, other_photo, _media_root):
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
    listing = f"hash,source\n# from a partner\n{first},x\n{second},y\n\n".encode()
    response = admin_client.post(
        url,
        {"import-file": SimpleUploadedFile("hashes.csv", listing, content_type="text/csv"), "import-reason": "Partner"},
    )
    assert response.status_code == 302
    assert set(BlockedHash.objects.values_list("pdq_hash", flat=True)) == {first, second}
    assert BlockedHash.objects.get(pdq_hash=second).reason == "Partner"


def test_a_file_with_a_malformed_line_imports_nothing(admin_client, photo):
    listing = f"{pdq_of_bytes(photo).hex}\nnot-a-hash\n".encode()
    response = admin_client.post(
        reverse("moderation:blocklist"),
        {"import-file": SimpleUploadedFile("h.txt", listing), "import-reason": "Partner"},
    )
    assert response.status_code == 400
    assert "Line 2" in response.content.decode()
    assert not BlockedHash.objects.exists()


def test_support_cannot_change_the_blocklist(support_client, photo):
    response = support_client.post(
        reverse("moderation:blocklist"), {"add-pdq_hash": pdq_of_bytes(photo).hex, "add-reason": "x"}
    )
    assert response.status_code == 403
    assert not BlockedHash.objects.exists()
