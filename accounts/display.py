"""How a person is named on screen and in mail (allauth's ACCOUNT_USER_DISPLAY).

People sign up with an email address and never choose a username: allauth derives one
("alice.walk") that they have never seen, so it must not be how the product addresses them.
"""

from __future__ import annotations


def user_display(user) -> str:
    """The person's name when we have one, else their email address, else the username."""
    return user.get_full_name().strip() or user.email or user.get_username()
