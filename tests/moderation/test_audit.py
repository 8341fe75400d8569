"""The audit trail (django-auditlog): an entry for every staff action, every money movement not
made by the job lifecycle, key creation and revocation, secret rotation, role changes and staff
console sign-ins, with actor, time, target, before/after and request id; staff filter it; an
organization's owners read their part, and nobody else's."""

from __future__ import annotations

import re
import uuid

import pytest
from auditlog.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.test import Client
from django.urls import reverse

from accounts.models import ApiKey, Membership, Organization, Subscription
from accounts.services import membership_add
from billing.models import LedgerEntry, Plan
from billing.services import wallet_topup
from moderation import services
from moderation.audit import STAFF_CONSOLE_SIGN_IN
from moderation.models import BlockedHash, ModerationAction, StaffMember
from tests.moderation.conftest import completed_job

pytestmark = pytest.mark.django_db


def entries_for(model, **filters):
    return LogEntry.objects.filter(content_type=ContentType.objects.get_for_model(model), **filters)


def owner_client(tenant) -> Client:
    browser = Client()
    browser.force_login(tenant.owner)
    return browser


def test_every_moderation_action_is_in_the_trail_with_actor_and_request_id(admin_client, admin_user, acme, photo):
    job = completed_job(acme.org, photo, api_key=acme.api_key)
    item = services.job_flag(job=job, actor=admin_user, reason="Check it")
    for action in ("hide", "restore", "preserve", "unpreserve", "refund", "block_hash", "suspend_key"):
        response = admin_client.post(
            reverse("moderation:item_action", args=[item.id, action]),
            {"reason": f"why {action}"},
            HTTP_X_REQUEST_ID=f"req-{action}-0001",
        )
        assert response.status_code == 302, (action, response.content[:300])
        assert response["X-Request-ID"] == f"req-{action}-0001"
    actions = ModerationAction.objects.order_by("id")
    assert actions.count() == 8  # the flag, then the seven above
    for action in actions:
        entry = entries_for(ModerationAction, object_pk=str(action.pk), action=LogEntry.Action.CREATE).get()
        assert entry.additional_data["organization_id"] == str(acme.org.id)
        assert entry.changes_dict["kind"][1] == action.kind
        if action.kind != ModerationAction.Kind.FLAG:
            assert entry.actor == admin_user
            assert entry.cid == f"req-{action.kind}-0001"
    # The refund's ledger entry and the key's revocation are recorded too.
    refund = LedgerEntry.objects.get(job=job, kind=LedgerEntry.Kind.ADJUSTMENT)
    assert entries_for(LedgerEntry, object_pk=str(refund.pk), actor=admin_user, cid="req-refund-0001").exists()
    revoked = entries_for(ApiKey, action=LogEntry.Action.UPDATE, cid="req-suspend_key-0001")
    assert revoked.count() == 2 and all(e.changes_dict["revoked_at"][0] in (None, "None") for e in revoked)


def test_a_wallet_adjustment_and_an_organization_suspension_from_the_console(admin_client, admin_user, acme):
    admin_client.post(
        reverse("staff:organization_detail", args=[acme.org.id]),
        {"amount": "2.50", "reason": "Goodwill", "token": str(uuid.uuid4())},
    )
    adjustment = LedgerEntry.objects.get(organization=acme.org, kind=LedgerEntry.Kind.ADJUSTMENT)
    entry = entries_for(LedgerEntry, object_pk=str(adjustment.pk)).get()
    assert entry.actor == admin_user and entry.changes_dict["amount"] == ["None", "250"]
    assert entry.remote_addr == "127.0.0.1" and entry.cid

    admin_client.post(
        reverse("staff:organization_status", args=[acme.org.id]), {"status": "suspended", "reason": "abuse"}
    )
    suspended = entries_for(Organization, object_pk=str(acme.org.id), action=LogEntry.Action.UPDATE).get()
    assert suspended.changes_dict["status"] == ["active", "suspended"] and suspended.actor == admin_user
    assert suspended.additional_data["reason"] == "abuse"


def test_a_plan_change_is_recorded_with_before_and_after(admin_client, admin_user, acme):
    pro = Plan.objects.get(code="pro")
    before = acme.org.plan.code
    admin_client.post(reverse("staff:organization_plan", args=[acme.org.id]), {"plan": pro.id, "reason": "deal"})
    entry = entries_for(Organization, object_pk=str(acme.org.id), action=LogEntry.Action.UPDATE).get()
    assert entry.changes_dict["plan"] == [before, "pro"] and entry.actor == admin_user
    assert entry.additional_data["reason"] == "deal"


def test_top_ups_are_recorded_and_job_lifecycle_movements_are_not(acme, photo):
    wallet_topup(organization=acme.org, amount=500, idempotency_key="stripe:pi_1", description="Card top-up")
    completed_job(acme.org, photo)  # a hold and a capture
    kinds = {
        entry.additional_data["kind"]
        for entry in entries_for(LedgerEntry)
        if entry.additional_data.get("organization_id") == str(acme.org.id)
    }
    assert kinds == {"topup"}  # the initial credit and the card top-up; no hold, no capture
    assert LedgerEntry.objects.filter(organization=acme.org, kind__in=["hold", "capture"]).count() == 2


def test_key_creation_revocation_regeneration_and_secret_rotation_from_the_dashboard(acme):
    browser = owner_client(acme)
    browser.post(reverse("dashboard:key_create"), {"name": "ci"}, HTTP_X_REQUEST_ID="create-key-001")
    subscription = Subscription.objects.get(organization=acme.org, name="ci")
    created = entries_for(ApiKey, action=LogEntry.Action.CREATE, cid="create-key-001")
    assert created.count() == 2 and all(e.actor == acme.owner for e in created)
    assert all("digest" not in e.changes_dict for e in created)  # never the digest

    browser.post(reverse("dashboard:key_regenerate", args=[subscription.id]), {"slot": "primary"})
    browser.post(reverse("dashboard:key_revoke", args=[subscription.id]))
    revocations = entries_for(ApiKey, action=LogEntry.Action.UPDATE, changes__has_key="revoked_at")
    assert revocations.count() == 3  # the regenerated primary, then both live keys
    assert entries_for(Subscription, object_pk=str(subscription.id), action=LogEntry.Action.UPDATE).exists()

    browser.post(reverse("dashboard:webhook_secret_rotate"))
    rotation = entries_for(Organization, object_pk=str(acme.org.id), action=LogEntry.Action.UPDATE).get()
    assert rotation.actor == acme.owner
    assert rotation.changes_dict["webhook_secret"] == ["(secret)", "(secret)"]  # recorded, never revealed
    acme.org.refresh_from_db()
    assert acme.org.webhook_secret not in str(rotation.changes)


def test_role_changes_are_recorded(acme, admin_user, support_user):
    membership_add(organization=acme.org, user=acme.teammate, role=Membership.Role.ADMIN)
    entry = entries_for(Membership, action=LogEntry.Action.UPDATE).get()
    assert entry.changes_dict["role"] == ["member", "admin"]
    assert entry.additional_data["organization_id"] == str(acme.org.id)

    member = StaffMember.objects.get(user=support_user)
    member.role = StaffMember.Role.ADMIN
    member.save()
    assert entries_for(StaffMember, object_pk=str(member.pk), action=LogEntry.Action.UPDATE).get().changes_dict[
        "role"
    ] == ["support", "admin"]
    support_user.is_staff = False
    support_user.save()
    assert entries_for(type(support_user), object_pk=str(support_user.pk)).filter(changes__has_key="is_staff").exists()


def test_a_staff_console_sign_in_is_recorded_once_per_session(admin_user):
    browser = Client()
    browser.force_login(admin_user)
    browser.get(reverse("staff:home"), HTTP_X_REQUEST_ID="signin-req-0001")
    browser.get(reverse("moderation:queue"))
    sign_ins = LogEntry.objects.filter(additional_data__event=STAFF_CONSOLE_SIGN_IN)
    entry = sign_ins.get()
    assert entry.actor == admin_user and entry.object_pk == str(admin_user.pk) and entry.cid == "signin-req-0001"
    again = Client()
    again.force_login(admin_user)
    again.get(reverse("staff:home"))
    assert sign_ins.count() == 2


def test_staff_filter_the_trail_by_organization_actor_and_type(
    admin_client, admin_user, support_user, acme, outsider, photo
):
    item = services.job_flag(job=completed_job(acme.org, photo), actor=support_user, reason="look")
    services.item_dismiss(item=item, actor=admin_user, reason="fine")
    wallet_topup(organization=outsider.org, amount=100, idempotency_key="t-out", description="top-up")
    url = reverse("moderation:audit")

    def shown(**params):
        return {entry.pk for entry in admin_client.get(url, params).context["rows"]}

    acme_only = shown(organization=str(acme.org.id))
    assert acme_only and all(
        LogEntry.objects.get(pk=pk).additional_data.get("organization_id") == str(acme.org.id) for pk in acme_only
    )
    by_support = shown(actor=str(support_user.pk))
    assert by_support == set(LogEntry.objects.filter(actor=support_user).values_list("pk", flat=True))
    actions = shown(type="moderation_action")
    assert len(actions) == 2
    assert shown(type="ledger", organization=str(outsider.org.id)) == set(
        entries_for(LedgerEntry, additional_data__organization_id=str(outsider.org.id)).values_list("pk", flat=True)
    )
    assert shown(type="sign_in") == set(
        LogEntry.objects.filter(additional_data__event=STAFF_CONSOLE_SIGN_IN).values_list("pk", flat=True)
    )


def test_owners_read_their_part_and_none_of_another_organization(admin_user, acme, outsider, photo):
    item = services.job_flag(job=completed_job(acme.org, photo), actor=admin_user, reason="internal note XYZ")
    services.item_hide(item=item, actor=admin_user, reason="internal reason QQQ", customer_message="Hidden for review.")
    wallet_topup(organization=outsider.org, amount=100, idempotency_key="t-out", description="Globex top-up")

    page = owner_client(acme).get(reverse("trust:organization_audit"))
    assert page.status_code == 200
    rows = page.context["rows"]
    assert rows and all(r.additional_data.get("organization_id") == str(acme.org.id) for r in rows)
    html = page.content.decode()
    assert "Hidden for review." in html
    assert "internal reason QQQ" not in html and "internal note XYZ" not in html
    assert "tess" not in html  # staff are "Our staff" to customers
    assert "Globex top-up" not in html

    outsider_rows = owner_client(outsider).get(reverse("trust:organization_audit")).context["rows"]
    assert outsider_rows and all(
        r.additional_data.get("organization_id") == str(outsider.org.id) for r in outsider_rows
    )


def test_an_owner_reads_the_actions_that_touched_them_in_words_and_not_staff_bookkeeping(admin_user, acme, photo):
    kept = completed_job(acme.org, photo)
    dismissed = services.job_flag(job=kept, actor=admin_user, reason="looked fine")
    services.item_preserve(item=dismissed, actor=admin_user, reason="keep it", preserve=True)
    services.item_dismiss(item=dismissed, actor=admin_user, reason="nothing wrong")
    hidden = services.job_flag(job=completed_job(acme.org, photo), actor=admin_user, reason="bad")
    services.item_hide(item=hidden, actor=admin_user, reason="policy", customer_message="Hidden: policy 4.2.")

    page = owner_client(acme).get(reverse("trust:organization_audit"))
    actions = [r for r in page.context["rows"] if r.content_type.model == "moderationaction"]
    kinds = [r.visible_changes.get("kind", ["", ""])[1] for r in actions]
    assert kinds == ["Hidden"]  # flag, preserve and dismiss are staff bookkeeping
    html = page.content.decode()
    assert "dismiss" not in html and "preserve" not in html


def test_a_teammate_who_is_not_an_owner_cannot_read_the_trail(acme):
    browser = Client()
    browser.force_login(acme.teammate)
    assert browser.get(reverse("trust:organization_audit")).status_code == 403


def test_an_outsider_organization_sees_nothing_of_another_tenants_moderation(admin_user, acme, outsider, photo):
    job = completed_job(acme.org, photo)
    item = services.job_flag(job=job, actor=admin_user, reason="x")
    services.item_hide(item=item, actor=admin_user, reason="y", customer_message="Hidden.")
    browser = owner_client(outsider)
    assert browser.get(reverse("dashboard:job_detail", args=[job.request_id])).status_code == 404
    assert outsider.api().get(f"/v2/requests/status/{job.request_id}").status_code == 404
    for name in ("moderation:queue", "moderation:audit", "moderation:blocklist"):
        assert browser.get(reverse(name)).status_code == 404
    assert browser.get(reverse("moderation:item", args=[item.id])).status_code == 404
    assert browser.get(reverse("moderation:item_media", args=[item.id, "input"])).status_code == 404


def test_a_created_organization_shows_its_own_fields_not_its_reverse_relations(acme):
    """auditlog stores a created row's reverse relations (``payments: None -> billing.Payment.None``);
    the trail shows the row's own columns only."""
    page = owner_client(acme).get(reverse("trust:organization_audit"))
    created = [r for r in page.context["rows"] if r.content_type.model == "organization" and r.action == 0]
    assert created
    shown = created[0].visible_changes
    assert "name" in shown and "slug" in shown
    assert not {"payments", "jobs", "memberships", "ledger_entries", "api_keys"} & set(shown)
    assert "webhook_secret_rotated_at" not in shown  # None -> None says nothing
    assert ".None" not in page.content.decode()


def test_a_ledger_rows_amounts_read_as_money_in_the_trail(acme):
    wallet_topup(organization=acme.org, amount=1250, idempotency_key="t-money", description="Top-up QA")
    rows = owner_client(acme).get(reverse("trust:organization_audit")).context["rows"]
    topup = next(r for r in rows if r.content_type.model == "ledgerentry" and "Top-up QA" in str(r.visible_changes))
    assert topup.visible_changes["amount"][1] == "$12.50"


def test_a_ledger_row_is_named_with_money_not_minor_units(acme):
    wallet_topup(organization=acme.org, amount=1250, idempotency_key="t-name", description="Named top-up")
    entry = LedgerEntry.objects.get(idempotency_key="t-name")
    assert str(entry) == "Top-up $12.50"
    logged = LogEntry.objects.get_for_object(entry).get()
    assert logged.object_repr == "Top-up $12.50"


def test_a_blocked_hash_is_in_the_trail_with_its_digits_and_not_the_bits_the_database_derives(admin_user):
    blocked = services.blocklist_add(pdq_hash="ab" * 32, reason="Known bad", actor=admin_user)

    entry = entries_for(BlockedHash, object_pk=str(blocked.pk), action=LogEntry.Action.CREATE).get()
    assert entry.changes_dict["pdq_hash"][1] == "ab" * 32
    assert "pdq_bits" not in entry.changes_dict


def test_an_owner_reads_the_trail_in_words_not_ids_and_keys(acme, admin_client):
    admin_client.post(
        reverse("staff:organization_detail", args=[acme.org.id]),
        {"amount": "5.00", "reason": "Goodwill", "token": str(uuid.uuid4())},
    )
    rows = owner_client(acme).get(reverse("trust:organization_audit")).context["rows"]
    adjustment = next(r for r in rows if r.content_type.model == "ledgerentry" and r.action == 0)
    shown = adjustment.visible_changes
    assert shown["amount"][1] == "$5.00"
    assert shown["wallet"][1] == str(acme.org.wallet)  # the row, not its id
    assert "held change" in shown and "held_change" not in shown  # labels, not column names
    assert not {"idempotency_key", "idempotency key", "created_at", "created at", "organization"} & set(shown)
    assert shown["amount"][0] == ""  # a created row's fields had no value before, not "None"
    assert "staff-adjust:" not in str(shown)


def test_billing_settings_and_a_revealed_signing_secret_are_in_the_owners_trail(acme):
    from billing.models import BillingAccount

    browser = owner_client(acme)
    account = BillingAccount.objects.create(organization=acme.org)
    account.monthly_spend_limit = 5000
    account.low_balance_alerted = True  # the service's own flag: not a change anyone made
    account.save()
    assert browser.post(reverse("dashboard:webhook_secret_reveal")).status_code == 200
    rows = browser.get(reverse("trust:organization_audit")).context["rows"]
    limit = next(r for r in rows if r.content_type.model == "billingaccount" and r.action == LogEntry.Action.UPDATE)
    assert limit.visible_changes == {"monthly spend limit": ["", "$50.00"]}
    created = next(r for r in rows if r.content_type.model == "billingaccount" and r.action == LogEntry.Action.CREATE)
    assert "city" not in created.visible_changes  # empty before and after: nothing to read
    revealed = next(r for r in rows if r.event_label == "webhook signing secret shown")
    assert revealed.actor == acme.owner


def test_an_owner_reads_flags_as_yes_or_no_and_a_rotated_secret_as_new(acme):
    browser = owner_client(acme)
    browser.post(reverse("dashboard:key_create"), {"name": "flags"})
    browser.post(reverse("dashboard:key_revoke", args=[Subscription.objects.get(name="flags").id]))
    browser.post(reverse("dashboard:webhook_secret_rotate"))
    rows = browser.get(reverse("trust:organization_audit")).context["rows"]
    created = next(r for r in rows if r.content_type.model == "subscription" and r.action == LogEntry.Action.CREATE)
    assert "revoked by moderation" not in created.visible_changes  # a new row's unset flag says nothing
    rotation = next(r for r in rows if r.content_type.model == "organization" and r.action == LogEntry.Action.UPDATE)
    assert rotation.visible_changes["webhook secret"] == ["(secret)", "(new secret)"]
    page = browser.get(reverse("trust:organization_audit")).content.decode()
    assert "False" not in page and "True" not in page


def test_staff_read_a_moderation_actions_kind_in_words_and_no_none(admin_client, admin_user, acme, photo):
    job = completed_job(acme.org, photo, api_key=acme.api_key)
    item = services.job_flag(job=job, actor=admin_user, reason="check")
    services.item_suspend_key(item=item, actor=admin_user, reason="abuse")
    trail = admin_client.get(reverse("moderation:audit"), {"type": "moderation_action"}).content.decode()
    assert "Key revoked" in trail and "suspend_key" not in trail and "None →" not in trail


def test_staff_read_related_rows_by_name_with_their_id(admin_client, admin_user, acme):
    from billing.services import wallet_adjust

    wallet_adjust(
        organization=acme.org, amount=250, idempotency_key="named", description="Goodwill", created_by=admin_user
    )
    page = admin_client.get(reverse("moderation:audit"))
    rows = page.context["rows"]
    adjustment = next(r for r in rows if r.content_type.model == "ledgerentry" and "Goodwill" in str(r.visible_changes))
    organization = adjustment.visible_changes["organization"][1]
    assert organization == f"{acme.org.name} (#{acme.org.id})"
    assert adjustment.visible_changes["created_by"][1].endswith(f"(#{admin_user.pk})")


def test_a_created_rows_many_fields_fold_behind_one_line_and_read_as_values(acme):
    body = owner_client(acme).get(reverse("trust:organization_audit")).content.decode()
    created = body.split('data-entry="')[1:]
    folded = [row for row in created if '<details class="audit-changes"><summary>' in row]
    assert folded, "a created organization has more than four fields"
    assert any(re.search(r"<summary>\d+ fields set</summary>", row) for row in folded)
    for row in folded:
        if "fields set" in row:
            assert "— →" not in row.split("</details>")[0]  # a new row has no before
