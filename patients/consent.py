"""Consent and suppression: may this patient be mailed for this purpose?

Suppressions are keyed by the email's blind index, so they outlive the profile and no
re-import can lift them.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from core.clock import utcnow
from core.crypto import key_ring
from core.db import new_id
from patients.emails import normalize_email
from patients.models import Suppression

PURPOSES = ("care_reminder", "operations", "marketing")


def age_on(birth: date | None, as_of: date) -> int | None:
    if birth is None:
        return None
    return as_of.year - birth.year - ((as_of.month, as_of.day) < (birth.month, birth.day))


def _as_date(value) -> date | None:
    if value is None or value == "" or value != value:  # NaN/NaT compare unequal
        return None
    return date.fromisoformat(value[:10]) if isinstance(value, str) else value


def skip_reason(facets: dict, purpose: str, as_of: date) -> str | None:
    """Why this patient must not be mailed for `purpose`, or None when they may be."""
    if purpose not in PURPOSES:
        raise ValueError(f"unknown purpose {purpose!r}")
    if facets.get("deceased"):
        return "deceased"
    if not facets.get("email_usable"):
        return "no_email"
    if facets.get("suppressed"):
        return "suppressed"
    if facets.get("email_opt_in") == "no":
        return "opted_out"
    if purpose != "marketing":
        return None
    if _as_date(facets.get("marketing_authorized_at")) is None:
        return "no_marketing_authorization"
    age = age_on(_as_date(facets.get("birth_date")), as_of)
    return "minor" if age is None or age < 18 else None


def _email_index(email: str) -> str | None:
    normalised = normalize_email(email)
    return key_ring().blind_index("email", normalised) if normalised else None


def suppress(session: Session, email: str, reason: str) -> None:
    """Add an address to the suppression list (idempotent; the first reason is kept)."""
    bidx = _email_index(email)
    if bidx is None:
        return
    dialect = session.get_bind().dialect.name
    maker = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = maker(Suppression).values(
        id=new_id(), email_bidx=bidx, reason=reason[:40], created_at=utcnow()
    ).on_conflict_do_nothing(index_elements=["email_bidx"])
    session.execute(stmt)


def is_suppressed(session: Session, email: str) -> bool:
    """Whether the address is suppressed; during a key rotation both index versions count."""
    normalised = normalize_email(email)
    if normalised is None:
        return False
    indexes = key_ring().blind_indexes("email", normalised)
    query = select(Suppression.id).where(Suppression.email_bidx.in_(indexes)).limit(1)
    return session.scalar(query) is not None
