"""Staff users and their one-time enrolment links (the only way to get a first passkey).

There is no password and no email-link sign-in: a user gets a passkey through a link an
administrator issues on the command line, and signs in with it. Only the SHA-256 of a
link's token is stored.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from email_validator import EmailNotValidError, validate_email
from flask import Flask
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from auth.errors import EnrollmentLinkInvalid
from auth.models import EnrollmentLink, Role, User
from auth.server_sessions import revoke_all_for_user
from core import audit
from core.clock import utcnow
from core.db import new_id, new_session
from core.errors import NotFound, SendwellError

LINK_TTL = timedelta(hours=24)
RECOVERY_TTL = timedelta(minutes=15)
TOKEN_BYTES = 32  # 256 bits
INVITE = "invite"
RECOVERY = "recovery"


def normalize_staff_email(raw: str) -> str:
    """Validate a staff address and return it trimmed and lower-cased."""
    try:
        result = validate_email(raw.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise SendwellError("not a valid email address") from exc
    return result.normalized.lower()


def ensure_user(session: Session, email: str, role: Role, actor: str = "cli") -> User:
    """The user with this email, created if new; an existing user is given `role`."""
    address = normalize_staff_email(email)
    user = session.scalars(select(User).where(User.email == address)).first()
    if user is None:
        user = User(id=new_id(), email=address, role=role.value, active=True)
        session.add(user)
        session.flush()
        audit.record(session, actor, "user.created", user.id, role=role.value)
    elif user.role != role.value:
        audit.record(session, actor, "user.role_changed", user.id, old=user.role, new=role.value)
        user.role = role.value
    return user


def get_user(session: Session, user_id: str) -> User | None:
    return session.get(User, user_id)


def find_user_by_email(session: Session, email: str) -> User | None:
    try:
        address = normalize_staff_email(email)
    except SendwellError:
        return None
    return session.scalars(select(User).where(User.email == address)).first()


def deactivate_user(session: Session, email: str, actor: str = "cli") -> int:
    """Disable a staff account and revoke all its sessions; returns how many were live."""
    user = find_user_by_email(session, email)
    if user is None:
        raise NotFound("no staff user with that email address")
    user.active = False
    revoked = revoke_all_for_user(session, user.id, "user_deactivated")
    audit.record(session, actor, "user.deactivated", user.id, sessions_revoked=revoked)
    return revoked


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_enrollment_link(session: Session, user: User, base_url: str, actor: str = "cli") -> str:
    """A new one-time enrolment URL for `user`; earlier unused links stop working."""
    session.execute(
        delete(EnrollmentLink).where(
            EnrollmentLink.user_id == user.id, EnrollmentLink.used_at.is_(None)
        )
    )
    token, link = _new_link(session, user, INVITE, LINK_TTL)
    audit.record(session, actor, "auth.enrollment_link_issued", user.id, link=link.id)
    return f"{base_url.rstrip('/')}/auth/enroll/{token}"


def issue_recovery_grant(session: Session, user: User) -> str:
    """A short-lived token that registers one passkey for `user` (no sign-in, no URL)."""
    session.execute(
        delete(EnrollmentLink).where(
            EnrollmentLink.user_id == user.id, EnrollmentLink.purpose == RECOVERY,
            EnrollmentLink.used_at.is_(None),
        )
    )
    token, _link = _new_link(session, user, RECOVERY, RECOVERY_TTL)
    return token


def _new_link(
    session: Session, user: User, purpose: str, ttl: timedelta
) -> tuple[str, EnrollmentLink]:
    token = secrets.token_urlsafe(TOKEN_BYTES)
    link = EnrollmentLink(
        id=new_id(), user_id=user.id, purpose=purpose, token_hash=hash_token(token),
        expires_at=utcnow() + ttl,
    )
    session.add(link)
    session.flush()
    return token, link


def open_enrollment_link(
    session: Session, token: str | None, purpose: str = INVITE
) -> EnrollmentLink:
    """The usable link for `token`; unknown, used and expired links are refused alike."""
    if not token:
        raise EnrollmentLinkInvalid()
    link = session.scalars(
        select(EnrollmentLink).where(
            EnrollmentLink.token_hash == hash_token(token), EnrollmentLink.purpose == purpose
        )
    ).first()
    if link is None or link.used_at is not None or link.expires_at <= utcnow():
        raise EnrollmentLinkInvalid()
    user = session.get(User, link.user_id)
    if user is None or not user.active:
        raise EnrollmentLinkInvalid()
    return link


def mark_link_used(session: Session, link: EnrollmentLink) -> None:
    """Spend the link; a concurrent second use is refused."""
    spent = session.execute(
        update(EnrollmentLink)
        .where(EnrollmentLink.id == link.id, EnrollmentLink.used_at.is_(None))
        .values(used_at=utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount
    if spent != 1:
        raise EnrollmentLinkInvalid()
    session.refresh(link)


def enrollment_link_for(app: Flask, email: str, role: Role) -> str:
    """Create (or reuse) a user and return a fresh one-time link, in its own transaction.

    The unit of work for command-line callers (`flask users …`, `flask demo`).
    """
    with app.app_context(), new_session() as session:
        user = ensure_user(session, email, role)
        link = issue_enrollment_link(session, user, app.config["BASE_URL"])
        session.commit()
    return link


def admin_enrollment_link(app: Flask, email: str) -> str:
    return enrollment_link_for(app, email, Role.ADMIN)
