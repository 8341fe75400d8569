"""An owner invites a teammate in Chromium; the teammate, who has no account yet, opens the link
from the mail (Django's test outbox), signs up, verifies the address and joins."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from accounts.models import Membership

PASSWORD = "a-long-enough-passphrase-42"


def path_in(message, prefix: str) -> str:
    return re.search(rf"https?://[^/\s]+({prefix}\S+)", message.body).group(1)


def test_an_owner_invites_a_stranger_who_signs_up_and_joins(signed_in, new_context, customer, mailoutbox):
    owner = signed_in()
    owner.goto("/team/")
    owner.get_by_label("Email address").fill("tess@example.com")
    owner.get_by_label("Role", exact=True).select_option("admin")
    owner.get_by_role("button", name="Send invitation").click()
    expect(owner.locator(".messages")).to_contain_text("Invitation sent to tess@example.com")
    expect(owner.get_by_role("cell", name="tess@example.com")).to_be_visible()
    (invitation_mail,) = mailoutbox
    link = path_in(invitation_mail, "/invitations/")

    tess = new_context().new_page()
    tess.goto(link)
    expect(tess.get_by_role("heading", level=1)).to_have_text("Join Acme Photos")
    tess.get_by_role("link", name="Create an account").click()
    tess.get_by_label("Email").fill("tess@example.com")
    tess.locator("input[name=password1]").fill(PASSWORD)
    tess.locator("input[name=password2]").fill(PASSWORD)
    tess.get_by_role("button", name="Create account").click()
    expect(tess.get_by_role("heading", level=1)).to_be_visible()
    tess.goto(path_in(mailoutbox[-1], "/accounts/confirm-email/"))
    tess.get_by_role("button", name=re.compile("Confirm", re.I)).click()

    # Back on the invitation (the sign-up kept it as the next page): accept.
    expect(tess.get_by_role("button", name="Accept and join")).to_be_visible()
    tess.get_by_role("button", name="Accept and join").click()
    expect(tess.get_by_role("heading", level=1)).to_have_text("Acme Photos")
    membership = Membership.objects.get(user__email="tess@example.com")
    assert (membership.organization, membership.role) == (customer.organization, Membership.Role.ADMIN)

    owner.goto("/team/")
    expect(owner.get_by_role("cell", name="tess@example.com")).to_be_visible()
    expect(owner.get_by_text("No open invitations.")).to_be_visible()
