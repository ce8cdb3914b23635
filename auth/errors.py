"""Errors of staff sign-in and enrolment; messages are safe to show and name no person."""

from __future__ import annotations

from core.errors import SendwellError


class AuthRefused(SendwellError):
    """A ceremony was refused; `reason` is a short code for the audit trail."""

    status_code = 400

    def __init__(self, message: str, reason: str, actor: str = "anonymous", target: str = ""):
        super().__init__(message)
        self.reason = reason
        self.actor = actor
        self.target = target


class EnrollmentLinkInvalid(SendwellError):
    """An enrolment link that is unknown, used or expired (one message for all three)."""

    status_code = 404

    def __init__(self):
        super().__init__(
            "This enrolment link is not valid: it may have been used or have expired. "
            "Ask an administrator for a new one."
        )
