"""Email addresses as identities: one canonical spelling per mailbox.

Used where an address must count once however it is written (trial credit is granted once per
mailbox). The rules are deliberately conservative: case is ignored, a ``+tag`` is dropped (most
providers deliver ``jane+1@`` to ``jane@``), and for Gmail, whose addresses ignore dots and which
also answers at googlemail.com, the dots and the domain alias go too.
"""

from __future__ import annotations

GMAIL_DOMAINS = {"gmail.com", "googlemail.com"}


def canonical_email(email: str) -> str:
    """``Jane.Doe+promo@GoogleMail.com`` -> ``janedoe@gmail.com``; '' for something that is not
    an address."""
    local, sep, domain = (email or "").strip().lower().rpartition("@")
    if not sep or not local or not domain:
        return ""
    local = local.split("+", 1)[0]
    if domain in GMAIL_DOMAINS:
        local, domain = local.replace(".", ""), "gmail.com"
    return f"{local}@{domain}" if local else ""
