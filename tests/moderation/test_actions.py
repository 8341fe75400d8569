"""Each moderation action and its effect on media URLs, storage, the ledger, keys and the customer."""

from __future__ import annotations

import pytest
from django.core.files.storage import default_storage
from django.test import Client
from django.urls import reverse

from accounts.keys import authenticate_key
from accounts.models import Organization
from billing.models import LedgerEntry, Wallet
from billing.money import format_money
from billing.services import ledger_check
from config.errors import Conflict, Forbidden
from jobs.media import media_url
from jobs.models import Job
from jobs.selectors import job_status_payload
from moderation import services
from moderation.errors import StaffRoleRequired
from moderation.models import BlockedHash, ImageHash, ModerationAction, ModerationItem
from tests.moderation.conftest import PLAIN_PRICE, completed_job, queued_job

pytestmark = pytest.mark.django_db
BASE = "http://testserver"
Kind = ModerationAction.Kind


def path_of(url: str) -> str:
    assert url.startswith(BASE)
    return url[len(BASE) :]


@pytest.fixture
def flagged(acme, photo, support_user):
    """A completed, charged job that support flagged into the queue."""
    job = completed_job(acme.org, photo, api_key=acme.api_key, user=acme.owner)
    assert job.status == Job.Status.COMPLETED
    return services.job_flag(job=job, actor=support_user, reason="Looks like a stolen portrait.")


def act(admin_client, item, action, reason="Policy 4.2", customer_message=""):
    return admin_client.post(
        reverse("moderation:item_action", args=[item.id, action]),
        {"reason": reason, "customer_message": customer_message},
    )


def test_the_queue_shows_the_item_with_thumbnails_organization_key_and_reason(admin_client, flagged, acme):
    page = admin_client.get(reverse("moderation:queue"))
    assert page.status_code == 200
    html = page.content.decode()
    assert flagged.request_id[-12:] in html and "Acme Photos" in html and "stolen portrait" in html
    assert reverse("moderation:item_media", args=[flagged.id, "input"]) in html
    assert f"cf_{acme.api_key.prefix}_" in html
    detail = admin_client.get(reverse("moderation:item", args=[flagged.id])).content.decode()
    assert flagged.request_id in detail and "acme-owner" in detail
    assert (
        admin_client.get(reverse("moderation:item_media", args=[flagged.id, "output"]))["Content-Type"] == "image/png"
    )


def test_looking_at_a_customers_picture_is_in_the_trail_once_an_hour(admin_client, admin_user, flagged, acme):
    from auditlog.models import LogEntry

    for _ in range(3):  # the browser fetching the same picture again is one look
        assert admin_client.get(reverse("moderation:item_media", args=[flagged.id, "input"])).status_code == 200
    admin_client.get(reverse("moderation:item_media", args=[flagged.id, "output"]))
    looks = LogEntry.objects.filter(object_pk=str(flagged.id), additional_data__event="media_viewed")
    assert sorted(looks.values_list("additional_data__picture", flat=True)) == ["input", "output"]
    assert {entry.actor for entry in looks} == {admin_user}
    trail = admin_client.get(reverse("moderation:audit"), {"type": "media_view"}).content.decode()
    assert trail.count("looked at a picture") == 2
    # The customer's own trail does not list staff looking.
    owner = Client()
    owner.force_login(acme.owner)
    assert "looked at a picture" not in owner.get(reverse("trust:organization_audit")).content.decode()


def test_hide_answers_410_at_once_and_keeps_the_files_for_review(admin_client, client, flagged):
    job = flagged.job
    output_url = path_of(media_url(job, "output", base_url=BASE))
    input_url = path_of(media_url(job, "input", base_url=BASE))
    assert client.get(output_url).status_code == 200
    old_names = (job.input_file.name, job.output_file.name)

    response = act(admin_client, flagged, "hide", customer_message="Hidden while we check a complaint.")

    assert response.status_code == 302
    gone = client.get(output_url)
    assert gone.status_code == 410 and client.get(input_url).status_code == 410
    assert b"taken down by our trust and safety team" in gone.content  # not "deleted": it is kept
    job.refresh_from_db()
    assert job.moderated_at is not None and job.files_purged_at is None
    # Kept, moved out of the served paths (on S3 the old presigned URLs stop resolving too).
    assert job.input_file.name.startswith("quarantine/") and job.output_file.name.startswith("quarantine/")
    assert all(default_storage.exists(name) for name in (job.input_file.name, job.output_file.name))
    assert not any(default_storage.exists(name) for name in old_names)
    # Reviewers still see it.
    assert admin_client.get(reverse("moderation:item_media", args=[flagged.id, "input"])).status_code == 200
    payload = job_status_payload(job, base_url=BASE)
    assert payload["output"] is None
    assert payload["moderation"]["action"] == "hidden"
    assert payload["moderation"]["message"] == "Hidden while we check a complaint."
    action = ModerationAction.objects.get(item=flagged, kind=Kind.HIDE)
    assert (action.actor_username, action.reason) == ("tess", "Policy 4.2")
    flagged.refresh_from_db()
    assert flagged.status == ModerationItem.Status.ACTIONED and flagged.resolved_by.username == "tess"


def test_the_customer_sees_on_the_job_that_it_was_moderated_and_why(admin_client, flagged, acme):
    act(admin_client, flagged, "hide", customer_message="Hidden while we check a complaint.")
    from django.test import Client

    owner = Client()
    owner.force_login(acme.owner)
    page = owner.get(reverse("dashboard:job_detail", args=[flagged.job.request_id])).content.decode()
    assert "Hidden by our trust and safety team" in page and "Hidden while we check a complaint." in page
    status = acme.api().get(f"/v2/requests/status/{flagged.job.request_id}").json()
    assert status["moderation"]["message"] == "Hidden while we check a complaint."
    # Staff's internal reason is never shown to the customer.
    assert "Policy 4.2" not in page and "Policy 4.2" not in str(status)


def test_restore_brings_a_hidden_job_back(admin_client, client, flagged):
    act(admin_client, flagged, "hide")
    response = act(admin_client, flagged, "restore", reason="Complaint was unfounded.")
    assert response.status_code == 302
    job = Job.objects.get(pk=flagged.job_id)
    assert job.moderated_at is None and job.moderation_note == ""
    assert not job.input_file.name.startswith("quarantine/")
    assert client.get(path_of(media_url(job, "output", base_url=BASE))).status_code == 200
    assert job_status_payload(job, base_url=BASE)["moderation"] is None
    assert list(ModerationAction.objects.filter(item=flagged).values_list("kind", flat=True)) == [
        Kind.FLAG,
        Kind.HIDE,
        Kind.RESTORE,
    ]


def test_delete_removes_the_files_through_the_storage_api(admin_client, client, flagged, settings):
    job = flagged.job
    names = (job.input_file.name, job.output_file.name)
    contents = {name: default_storage.open(name).read() for name in names}
    # An in-memory storage: the files can only go away through the storage API (as on S3).
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"}}
    from django.core.files.base import ContentFile
    from django.core.files.storage import storages

    memory = storages["default"]
    for name, content in contents.items():
        assert memory.save(name, ContentFile(content)) == name
    assert all(memory.exists(name) for name in names)

    response = act(admin_client, flagged, "delete", customer_message="")

    assert response.status_code == 302
    assert not any(memory.exists(name) for name in names)
    job.refresh_from_db()
    assert job.files_purged_at is not None and job.moderated_at is not None
    payload = job_status_payload(job, base_url=BASE)
    assert payload["moderation"]["action"] == "removed"
    assert "acceptable use policy" in payload["moderation"]["message"]
    assert ModerationAction.objects.filter(item=flagged, kind=Kind.DELETE, actor_username="tess").exists()


def test_delete_on_local_storage_leaves_no_file_and_links_answer_410(admin_client, client, flagged, _media_root):
    url = path_of(media_url(flagged.job, "output", base_url=BASE))
    act(admin_client, flagged, "delete")
    assert [p for p in _media_root.rglob("*") if p.is_file()] == []
    assert client.get(url).status_code == 410


def test_hiding_a_job_still_queued_cancels_it_without_charge(admin_user, acme, photo):
    job = queued_job(acme.org, photo)
    item = services.job_flag(job=job, actor=admin_user, reason="Reported before it ran.")
    services.item_hide(item=item, actor=admin_user, reason="Take it down")
    job.refresh_from_db()
    assert job.status == Job.Status.CANCELED
    wallet = Wallet.objects.get(organization=acme.org)
    assert (wallet.balance, wallet.held) == (1000, 0)


def test_refund_is_one_ledger_adjustment_tied_to_the_job_and_happens_once(admin_client, flagged, acme):
    wallet = Wallet.objects.get(organization=acme.org)
    assert wallet.balance == 1000 - PLAIN_PRICE

    first = act(admin_client, flagged, "refund", reason="Charged for a removed result.")
    second = act(admin_client, flagged, "refund", reason="again")

    assert first.status_code == 302 and second.status_code == 409
    refunds = LedgerEntry.objects.filter(job=flagged.job, kind=LedgerEntry.Kind.ADJUSTMENT)
    assert refunds.count() == 1
    entry = refunds.get()
    assert entry.amount == PLAIN_PRICE and entry.created_by.username == "tess"
    assert Wallet.objects.get(organization=acme.org).balance == 1000
    assert ModerationAction.objects.get(item=flagged, kind=Kind.REFUND).ledger_entry == entry
    assert ledger_check(organization=acme.org) == []


def test_a_refund_shows_wherever_the_charge_does(admin_client, flagged, acme):
    """The customer's API status, job page, jobs list and export, and the staff request page all
    say the request was charged and then refunded (it once read 'Charged $0.18' to the customer
    and 'not charged' to staff)."""
    job = flagged.job
    before = acme.api().get(f"/v2/requests/status/{job.request_id}").json()["cost"]
    assert before == {"currency": "USD", "price": PLAIN_PRICE, "charged": PLAIN_PRICE, "refunded": 0}
    act(admin_client, flagged, "refund", reason="Charged for a removed result.")

    status = acme.api().get(f"/v2/requests/status/{job.request_id}").json()
    assert status["cost"] == {"currency": "USD", "price": PLAIN_PRICE, "charged": PLAIN_PRICE, "refunded": PLAIN_PRICE}
    listed = acme.api().get("/v2/requests").json()["results"]
    assert [item["cost"]["refunded"] for item in listed if item["request_id"] == job.request_id] == [PLAIN_PRICE]
    owner = Client()
    owner.force_login(acme.owner)
    page = owner.get(reverse("dashboard:job_detail", args=[job.request_id])).content.decode()
    assert f"refunded {format_money(PLAIN_PRICE)}" in page
    assert f"{format_money(PLAIN_PRICE)}, refunded" in owner.get(reverse("dashboard:jobs")).content.decode()
    export = b"".join(owner.get(reverse("dashboard:jobs_export")).streaming_content).decode().splitlines()
    assert export[0].endswith("charged_minor,refunded_minor")
    assert export[1].endswith(f",{PLAIN_PRICE},{PLAIN_PRICE}")
    staff_page = admin_client.get(reverse("staff:request_detail", args=[job.id])).content.decode()
    assert f"refunded {format_money(PLAIN_PRICE)}" in staff_page and "not charged" not in staff_page
    # The customer's ledger names the request, never staff's internal reason; spending is net.
    entry = LedgerEntry.objects.get(job=job, kind=LedgerEntry.Kind.ADJUSTMENT)
    assert entry.description == f"Refunded by our trust and safety team: {job.request_id}"
    ledger = b"".join(owner.get(reverse("dashboard:ledger_export")).streaming_content).decode()
    assert "Charged for a removed result" not in ledger and "Request refund" in ledger
    assert owner.get(reverse("dashboard:home")).context["usage"].spent == 0


def test_the_item_page_offers_the_refund_with_its_amount_once_and_then_says_it_was_done(admin_client, flagged, acme):
    from restoration.templatetags.dashboard_tags import money

    price = money(PLAIN_PRICE)
    page = admin_client.get(reverse("moderation:item", args=[flagged.id])).content.decode()
    assert f"Refund {price}</button>" in page
    assert "back to the wallet of Acme" in page  # the confirmation names what and whose
    assert "Revoke the key" in page and "to stop the organization, suspend it" in page

    done = admin_client.post(
        reverse("moderation:item_action", args=[flagged.id, "refund"]),
        {"reason": "Charged for a removed result."},
        follow=True,
    )
    page = done.content.decode()
    assert f"Refunded: {price}." in page  # the message names the amount
    assert f"Refund {price}</button>" not in page
    assert f"Refunded {price} on" in page
    assert f"({price})" in page  # and the history shows money, not minor units


def test_support_staff_read_what_they_may_do_and_are_not_offered_the_rest(support_client, flagged):
    page = support_client.get(reverse("moderation:item", args=[flagged.id])).content.decode()
    assert "ask an admin to act on this item" in page
    assert "Preserve evidence" in page
    assert 'name="customer_message"' not in page
    for admin_only in ("Refund ", "Revoke the key", "Suspend organization", ">Hide<", "Add to blocklist"):
        assert admin_only not in page, admin_only


def test_a_job_that_was_never_charged_cannot_be_refunded(admin_user, acme, photo):
    job = queued_job(acme.org, photo)
    item = services.job_flag(job=job, actor=admin_user, reason="x")
    with pytest.raises(Exception) as caught:
        services.item_refund(item=item, actor=admin_user, reason="nothing to give back")
    assert caught.value.status_code == 400
    assert not LedgerEntry.objects.filter(job=job, kind=LedgerEntry.Kind.ADJUSTMENT).exists()


def test_suspending_the_key_makes_it_answer_403(admin_client, flagged, acme, settings):
    act(admin_client, flagged, "suspend_key", reason="Key used for abuse.")
    with pytest.raises(Forbidden):
        authenticate_key(acme.key)
    answer = acme.api().get("/v2/requests")
    assert answer.status_code == 403
    # The customer learns who revoked it and whom to ask, not only "revoked".
    assert answer.json()["message"] == (
        "This subscription key was revoked by our trust and safety team. To ask why, write to "
        f"{settings.BILLING_CONTACT_EMAIL} and name the organization."
    )
    assert ModerationAction.objects.filter(item=flagged, kind=Kind.SUSPEND_KEY).exists()
    dashboard = Client()
    dashboard.force_login(acme.owner)
    page = dashboard.get(reverse("dashboard:keys")).content.decode()
    assert "by our trust and safety team" in page and f"mailto:{settings.BILLING_CONTACT_EMAIL}" in page


def test_the_owners_are_told_by_e_mail_when_trust_and_safety_revoke_a_key_set(
    admin_client, flagged, acme, mailoutbox, django_capture_on_commit_callbacks, settings
):
    with django_capture_on_commit_callbacks(execute=True):
        act(admin_client, flagged, "suspend_key", reason="Key used for abuse (internal)")
    [notice] = mailoutbox
    assert notice.to == [acme.owner.email]
    assert notice.subject == f"[CodeFormer Cloud] A key set of {acme.org.name} was revoked"
    assert f'"{acme.subscription.name}"' in notice.body and settings.SUPPORT_CONTACT_EMAIL in notice.body
    assert "internal" not in notice.body


def test_a_key_set_the_owner_revoked_says_nothing_of_moderation(acme, mailoutbox, django_capture_on_commit_callbacks):
    from accounts.services import subscription_revoke

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        subscription_revoke(subscription=acme.subscription)
    assert callbacks == []  # nothing scheduled: no notice for an owner's own revoke
    answer = acme.api().get("/v2/requests")
    assert (answer.status_code, answer.json()["message"]) == (403, "This subscription key has been revoked.")
    dashboard = Client()
    dashboard.force_login(acme.owner)
    page = dashboard.get(reverse("dashboard:keys")).content.decode()
    assert "Revoked key sets (1)" in page and "trust and safety" not in page
    assert mailoutbox == []  # an owner's own revoke needs no e-mail


def test_suspending_the_organization(admin_client, flagged, acme):
    act(admin_client, flagged, "suspend_organization", reason="Repeat offender.")
    assert Organization.objects.get(pk=acme.org.pk).status == Organization.Status.SUSPENDED
    assert acme.api().get("/v2/requests").status_code == 403


def test_blocklisting_from_the_queue_is_one_click(admin_client, flagged):
    input_hash = ImageHash.objects.get(job=flagged.job, kind=ImageHash.Kind.INPUT).pdq_hash
    response = act(admin_client, flagged, "block_hash", reason="Known abusive image.")
    assert response.status_code == 302
    blocked = BlockedHash.objects.get()
    assert blocked.pdq_hash == input_hash and blocked.source_item_id == flagged.id


def test_removing_a_hash_needs_a_reason_and_the_item_it_came_from_records_it(admin_client, flagged):
    from auditlog.models import LogEntry

    act(admin_client, flagged, "block_hash", reason="Known abusive image.")
    blocked = BlockedHash.objects.get()
    url = reverse("moderation:blocklist_remove", args=[blocked.id])
    listing = admin_client.get(reverse("moderation:blocklist")).content.decode()
    assert reverse("moderation:item", args=[flagged.id]) in listing  # the row links to its item

    refused = admin_client.post(url, {}, follow=True)
    assert "Say why: every moderation action records a reason." in refused.content.decode()
    assert BlockedHash.objects.filter(pk=blocked.pk).exists()

    assert admin_client.post(url, {"reason": "Blocked by mistake: a stock photo"}).status_code == 302
    assert not BlockedHash.objects.exists()
    undone = ModerationAction.objects.get(item=flagged, kind=ModerationAction.Kind.UNBLOCK_HASH)
    assert undone.reason == "Blocked by mistake: a stock photo"
    event = LogEntry.objects.filter(additional_data__event="blocklist_remove").get()
    assert event.additional_data["reason"] == "Blocked by mistake: a stock photo"
    history = admin_client.get(reverse("moderation:item", args=[flagged.id])).content.decode()
    assert "Hash removed from the blocklist" in history


def test_dismiss_closes_the_item_without_touching_the_job(admin_client, client, flagged):
    url = path_of(media_url(flagged.job, "output", base_url=BASE))
    act(admin_client, flagged, "dismiss", reason="Not abusive.")
    flagged.refresh_from_db()
    assert flagged.status == ModerationItem.Status.DISMISSED
    assert client.get(url).status_code == 200


def test_an_action_without_a_reason_does_nothing(admin_client, client, flagged):
    url = path_of(media_url(flagged.job, "output", base_url=BASE))
    act(admin_client, flagged, "hide", reason="")
    assert client.get(url).status_code == 200
    assert not ModerationAction.objects.filter(kind=Kind.HIDE).exists()


def test_deleting_preserved_evidence_is_refused(admin_user, flagged):
    services.item_preserve(item=flagged, actor=admin_user, reason="Law enforcement request 123")
    with pytest.raises(Conflict):
        services.item_delete(item=flagged, actor=admin_user, reason="cleanup")
    assert default_storage.exists(Job.objects.get(pk=flagged.job_id).input_file.name)


@pytest.mark.parametrize(
    "action", ["hide", "delete", "refund", "suspend_key", "suspend_organization", "dismiss", "block_hash"]
)
def test_support_cannot_take_admin_actions(support_client, client, flagged, acme, action):
    url = path_of(media_url(flagged.job, "output", base_url=BASE))
    response = support_client.post(reverse("moderation:item_action", args=[flagged.id, action]), {"reason": "trying"})
    assert response.status_code == 403
    assert response.content.decode().count("Only trust and safety admins may do this.") == 1
    assert client.get(url).status_code == 200
    assert Wallet.objects.get(organization=acme.org).balance == 1000 - PLAIN_PRICE
    assert Organization.objects.get(pk=acme.org.pk).status == Organization.Status.ACTIVE
    assert authenticate_key(acme.key).organization_id == acme.org.id
    assert not BlockedHash.objects.exists()
    assert list(ModerationAction.objects.values_list("kind", flat=True)) == [Kind.FLAG]


def test_support_can_flag_and_preserve(support_client, support_user, acme, photo):
    job = completed_job(acme.org, photo)
    response = support_client.post(reverse("moderation:job_flag", args=[job.id]), {"reason": "Suspicious"})
    assert response.status_code == 302
    item = ModerationItem.objects.get(job=job)
    assert item.origin == ModerationItem.Origin.STAFF
    support_client.post(reverse("moderation:item_action", args=[item.id, "preserve"]), {"reason": "Keep it"})
    item.refresh_from_db()
    assert item.preserve_evidence
    with pytest.raises(StaffRoleRequired):
        services.item_hide(item=item, actor=support_user, reason="no")


def test_the_default_hide_wording_does_not_promise_a_review_that_is_over(admin_client, flagged):
    act(admin_client, flagged, "hide", reason="Policy 4.2")
    job = Job.objects.get(pk=flagged.job_id)
    assert ModerationItem.objects.get(pk=flagged.pk).status == ModerationItem.Status.ACTIONED
    assert "while it is reviewed" not in job.moderation_note
    assert "If you think this is a mistake, contact support and quote this request's id." in job.moderation_note
