"""Email normalisation: the one form every lookup, blind index and send uses."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email

# str.strip() already covers NBSP, tabs and the other Unicode spaces; add zero-width
# characters and the byte-order mark, which spreadsheets leave behind.
_INVISIBLE = "\ufeff\u200b\u200c\u200d\u2060"


def normalize_email(raw: str | None) -> str | None:
    """Trim, lower-case and validate an address; None when it is missing or unusable."""
    if raw is None:
        return None
    text = str(raw).strip().strip(_INVISIBLE).strip().lower()
    if not text:
        return None
    try:
        result = validate_email(text, check_deliverability=False)
    except EmailNotValidError:
        return None
    return result.normalized.lower()
