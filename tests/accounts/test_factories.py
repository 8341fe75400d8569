from billing.models import LedgerEntry
from tests.accounts.factories import OrganizationFactory, UserFactory, make_key


def test_organization_factory_builds_a_wallet_and_credits_it_through_the_ledger(db):
    user = UserFactory()
    org = OrganizationFactory(owner=user, initial_credit=250)
    assert org.wallet.balance == 250
    assert org.webhook_secret.startswith("whsec_")
    entry = LedgerEntry.objects.get(organization=org)
    assert (entry.kind, entry.amount, entry.balance_after) == ("topup", 250, 250)
    assert org.memberships.get().user == user
    assert user.check_password("correct horse battery staple")


def test_make_key_returns_a_primary_key_that_authenticates(db):
    from accounts.keys import authenticate_key

    org = OrganizationFactory()
    subscription, key = make_key(org)
    api_key = authenticate_key(key)
    assert api_key.subscription == subscription
    assert api_key.slot == "primary"
    assert api_key.organization == org
