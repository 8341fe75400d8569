"""Trust and safety: the moderation queue, abuse reports, the PDQ blocklist, staff roles and the
audit trail of staff and money actions."""
