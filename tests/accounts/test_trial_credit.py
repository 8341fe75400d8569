"""Trial credit: from the plan, through the ledger, once per verified mailbox (not per sign-up)."""

from __future__ import annotations

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.core import mail
from django.core.cache import cache
from django.urls import reverse

from accounts.emails import canonical_email
from accounts.models import Membership, TrialGrant
from accounts.services import trial_credit_grant
from billing.models import LedgerEntry, Plan, Wallet
from tests.accounts.factories import OrganizationFactory, UserFactory
from tests.accounts.test_auth_flows import sign_up, verify_from_mail

pytestmark = pytest.mark.django_db

User = get_user_model()


def sign_up_and_verify(client, email: str, organization_name: str = ""):
    # allauth sends one verification mail per address every 3 minutes; these tests sign the same
    # address up again at once, so they forget that cooldown (kept in the cache) first.
    cache.clear()
    mail.outbox.clear()
    assert sign_up(client, email, organization_name).status_code == 302
    user = User.objects.get(email__iexact=email)
    organization = Membership.objects.get(user=user).organization
    verify_from_mail(client, mail.outbox[-1])
    return user, organization


def trial_entries(organization):
    return LedgerEntry.objects.filter(organization=organization, kind=LedgerEntry.Kind.TRIAL)


@pytest.mark.parametrize(
    ("spelling", "canonical"),
    [
        ("Jane@Example.com", "jane@example.com"),
        ("  jane+promo@example.com ", "jane@example.com"),
        ("Jane.Doe+x@GoogleMail.com", "janedoe@gmail.com"),
        ("j.a.n.e@gmail.com", "jane@gmail.com"),
        ("jane.doe@example.com", "jane.doe@example.com"),  # dots matter outside Gmail
        ("not-an-address", ""),
        ("+tag@example.com", ""),
    ],
)
def test_canonical_email(spelling, canonical):
    assert canonical_email(spelling) == canonical


def test_the_seeded_plans_carry_trial_credit():
    assert Plan.objects.get(code="standard").trial_credit == 100
    assert Plan.objects.get(code="free").trial_credit == 100
    assert Plan.objects.get(code="pro").trial_credit == 0


def test_verifying_the_address_credits_the_plans_trial_through_the_ledger(client):
    mail.outbox.clear()
    sign_up(client, "newbie@example.com", "Newbie Studio")
    organization = Membership.objects.get(user__email="newbie@example.com").organization
    assert Wallet.objects.get(organization=organization).balance == 0  # nothing before verification
    verify_from_mail(client, mail.outbox[-1])
    (entry,) = trial_entries(organization)
    assert entry.amount == organization.plan.trial_credit == 100
    assert Wallet.objects.get(organization=organization).balance == 100
    grant = TrialGrant.objects.get()
    assert (grant.email, grant.organization, grant.amount) == ("newbie@example.com", organization, 100)
    wallet_page = client.get(reverse("dashboard:wallet")).content.decode()
    assert "Trial credit" in wallet_page and "$1.00" in wallet_page


def test_signing_up_again_with_the_same_address_after_deleting_the_account_gets_no_trial(client):
    first, first_org = sign_up_and_verify(client, "farmer@example.com", "First")
    assert trial_entries(first_org).count() == 1
    client.post(reverse("account_logout"))
    first.delete()
    assert TrialGrant.objects.filter(email="farmer@example.com", user=None).exists()  # the record stays

    second, second_org = sign_up_and_verify(client, "farmer@example.com", "Second")
    assert second.pk != first.pk and second_org.pk != first_org.pk
    assert EmailAddress.objects.get(user=second).verified
    assert not trial_entries(second_org).exists()
    assert Wallet.objects.get(organization=second_org).balance == 0


@pytest.mark.parametrize(
    ("first", "again"),
    [("farmer@example.com", "Farmer+2@example.com"), ("jane.doe@gmail.com", "JaneDoe+x@googlemail.com")],
)
def test_another_spelling_of_the_same_mailbox_gets_no_second_trial(client, first, again):
    _user, first_org = sign_up_and_verify(client, first)
    assert trial_entries(first_org).count() == 1
    client.post(reverse("account_logout"))
    _user, organization = sign_up_and_verify(client.__class__(), again)
    assert not trial_entries(organization).exists()


def test_a_second_verified_address_on_the_same_account_gets_no_second_trial(client):
    user, organization = sign_up_and_verify(client, "one@example.com")
    EmailAddress.objects.create(user=user, email="two@example.com", verified=True)
    assert trial_credit_grant(user=user, email="two@example.com") is None
    assert trial_entries(organization).count() == 1


def test_an_unverified_address_gets_nothing():
    user = UserFactory(username="ursula", email="ursula@example.com")
    organization = OrganizationFactory(owner=user)
    EmailAddress.objects.create(user=user, email=user.email, verified=False)
    assert trial_credit_grant(user=user, email=user.email) is None
    assert not trial_entries(organization).exists() and not TrialGrant.objects.exists()


def test_a_plan_without_trial_credit_grants_nothing_and_keeps_the_address_unused():
    user = UserFactory(username="paula", email="paula@example.com")
    EmailAddress.objects.create(user=user, email=user.email, verified=True)
    organization = OrganizationFactory(owner=user, plan=Plan.objects.get(code="pro"))
    assert trial_credit_grant(user=user, email=user.email) is None
    assert not trial_entries(organization).exists() and not TrialGrant.objects.exists()


def test_a_verified_user_without_an_organization_gets_the_trial_with_their_first_own_one(client):
    user = UserFactory(username="ivy", email="ivy@example.com")
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    member_only = OrganizationFactory(name="Someone Else's")
    Membership.objects.create(user=user, organization=member_only, role=Membership.Role.MEMBER)
    assert trial_credit_grant(user=user, email=user.email) is None  # owns nothing yet
    Membership.objects.filter(user=user).delete()
    client.force_login(user)
    client.post(reverse("dashboard:no_organization"), {"name": "Ivy Labs"})
    organization = Membership.objects.get(user=user, role=Membership.Role.OWNER).organization
    assert organization.name == "Ivy Labs"
    assert trial_entries(organization).get().amount == 100
    assert not trial_entries(member_only).exists()


def test_the_wallet_page_without_stripe_says_whom_to_write_to(client, settings):
    settings.STRIPE_SECRET_KEY = ""
    settings.BILLING_CONTACT_EMAIL = "credit@codeformer.example"
    _user, organization = sign_up_and_verify(client, "buyer@example.com", "Buyer Co")
    body = client.get(reverse("dashboard:wallet")).content.decode()
    assert 'href="mailto:credit@codeformer.example?subject=Credit%20for%20' in body
    assert organization.slug in body
    assert "contact sales" not in body


@pytest.mark.django_db(transaction=True)
def test_two_verifications_at_once_grant_one_trial():
    import threading

    from django.db import connection

    user = UserFactory(username="twin", email="twin@example.com")
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    organization = OrganizationFactory(owner=user)
    barrier = threading.Barrier(2)
    results = []

    def grant():
        try:
            barrier.wait()
            results.append(trial_credit_grant(user=user, email=user.email))
        finally:
            connection.close()

    threads = [threading.Thread(target=grant) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(result is None for result in results) == [False, True]
    assert trial_entries(organization).count() == 1
    assert Wallet.objects.get(organization=organization).balance == 100
