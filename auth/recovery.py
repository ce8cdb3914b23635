"""Recovery codes: ten single-use codes that let a staff user register a new passkey.

A code does nothing else: redeeming it grants a short-lived recovery enrolment (no
sign-in; the user signs in afterwards with the new passkey). Codes are shown once and
stored as salted scrypt hashes (a fresh 16-byte salt per code). Every use is audited,
revokes the user's open sessions and leaves a notification for administrators.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from auth.errors import AuthRefused
from auth.models import RecoveryCode, SecurityNotification, User
from auth.server_sessions import revoke_all_for_user
from auth.service import find_user_by_email, issue_recovery_grant
from core import audit
from core.clock import utcnow
from core.db import new_id

CODE_COUNT = 10
ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # 32 symbols: no 0/O, 1/I
CODE_LENGTH = 16  # 80 bits
SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}
REFUSED = "That email address and recovery code do not match."
RECOVERY_USED = "recovery_code_used"


def generate_codes(session: Session, user: User) -> list[str]:
    """Replace the user's unused codes with ten new ones; returns them (shown once)."""
    session.execute(
        delete(RecoveryCode).where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))
    )
    codes = ["".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
             for _ in range(CODE_COUNT)]
    for code in codes:
        salt = secrets.token_bytes(16)
        session.add(RecoveryCode(
            id=new_id(), user_id=user.id, salt=salt, code_hash=_hash(code, salt),
        ))
    session.flush()
    audit.record(session, user.email, "auth.recovery_codes_generated", user.id, count=CODE_COUNT)
    return [format_code(code) for code in codes]


def unused_count(session: Session, user_id: str) -> int:
    return session.scalar(
        select(func.count()).select_from(RecoveryCode).where(
            RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None)
        )
    )


def redeem_code(session: Session, email: str, code: str) -> tuple[User, str]:
    """Spend a code: (the user, a recovery-enrolment token). Refusals are audited."""
    user = find_user_by_email(session, email)
    usable = user is not None and user.active
    spent = _spend_matching(session, user, normalize_code(code)) if usable else None
    if spent is None:
        if user is None:
            _hash("", b"\0" * 16)  # keep the timing of an unknown address alike
        audit.record(session, "anonymous", "auth.recovery_refused", user.id if user else "")
        raise AuthRefused(REFUSED, "recovery_code_invalid")
    remaining = unused_count(session, user.id)
    revoked = revoke_all_for_user(session, user.id, "recovery_code_used")
    audit.record(session, user.email, "auth.recovery_code_used", user.id, code=spent,
                 remaining=remaining, sessions_revoked=revoked)
    notify_admins(session, RECOVERY_USED, user.id, code=spent, remaining=remaining)
    return user, issue_recovery_grant(session, user)


def notify_admins(session: Session, kind: str, user_id: str, **details) -> None:
    """Leave a notification on the administrators' security view (ids and counts only)."""
    session.add(SecurityNotification(
        id=new_id(), kind=kind, user_id=user_id, details=json.dumps(details, sort_keys=True),
    ))
    session.flush()


def recent_notifications(session: Session, limit: int = 20) -> list[SecurityNotification]:
    return list(session.scalars(
        select(SecurityNotification).order_by(SecurityNotification.created_at.desc()).limit(limit)
    ))


def normalize_code(raw: str | None) -> str:
    """Upper-case, without the spaces and dashes people type."""
    return "".join(ch for ch in (raw or "").upper() if ch.isalnum())


def format_code(code: str) -> str:
    return "-".join(code[i:i + 4] for i in range(0, len(code), 4))


def _spend_matching(session: Session, user: User, code: str) -> str | None:
    """Mark the matching unused code used (once, even under concurrency); its row id."""
    if len(code) != CODE_LENGTH:
        return None
    rows = session.scalars(
        select(RecoveryCode).where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))
    )
    match = next((r for r in rows if hmac.compare_digest(r.code_hash, _hash(code, r.salt))), None)
    if match is None:
        return None
    marked = session.execute(
        update(RecoveryCode)
        .where(RecoveryCode.id == match.id, RecoveryCode.used_at.is_(None))
        .values(used_at=utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount
    return match.id if marked == 1 else None


def _hash(code: str, salt: bytes) -> bytes:
    return hashlib.scrypt(code.encode(), salt=salt, **SCRYPT)
