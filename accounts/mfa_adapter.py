"""django-allauth's two-factor adapter with the project's wording."""

from __future__ import annotations

from allauth.mfa.adapter import DefaultMFAAdapter


class MFAAdapter(DefaultMFAAdapter):
    error_messages = {
        **DefaultMFAAdapter.error_messages,
        # allauth refuses two-factor while ANY address of the account is unverified (so that a
        # squatter cannot lock the real owner out); its message spoke of "your email address",
        # which sent people with a verified primary address looking in the wrong place.
        "unverified_email": (
            "Two-factor authentication can be turned on once every email address on your account is "
            "verified: verify or remove the unverified ones on the Email addresses page."
        ),
    }
