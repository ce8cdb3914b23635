"""Staff users, passkeys, enrolment links, WebAuthn challenges, server-side sessions,
recovery codes and the security notifications shown to administrators."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from flask_login import UserMixin
from sqlalchemy import ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, Instant, RowId, UTCDateTime, utc_now_plain


class Role(StrEnum):
    ADMIN = "admin"
    MARKETER = "marketer"
    MANAGER = "manager"
    COMPLIANCE = "compliance"


class User(UserMixin, Base):
    __tablename__ = "users"

    id: Mapped[RowId]
    email: Mapped[str] = mapped_column(String(254), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now_plain)

    @property
    def is_active(self) -> bool:  # Flask-Login
        return self.active


class Passkey(Base):
    __tablename__ = "passkeys"

    id: Mapped[RowId]
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    credential_id: Mapped[bytes] = mapped_column(LargeBinary, unique=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    sign_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now_plain)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class EnrollmentLink(Base):
    """A one-time link to register a passkey; only the token's SHA-256 is stored."""

    __tablename__ = "enrollment_links"

    id: Mapped[RowId]
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # "invite": a link an administrator issued (signs in after registering);
    # "recovery": granted by a recovery code, registers a passkey and nothing else.
    purpose: Mapped[str] = mapped_column(String(16), default="invite", server_default="invite")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[Instant]
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class WebAuthnChallenge(Base):
    """A challenge issued for one ceremony; consumed (deleted) by its first use."""

    __tablename__ = "webauthn_challenges"

    id: Mapped[RowId]
    purpose: Mapped[str] = mapped_column(String(16))  # register | authenticate | step_up
    user_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    # the server-side session a step-up challenge was issued to (None for sign-in/enrolment)
    session_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    challenge: Mapped[bytes] = mapped_column(LargeBinary)
    expires_at: Mapped[Instant]


class StaffSession(Base):
    """A signed-in staff session; the cookie holds a random id, the row only its SHA-256.

    Valid while not revoked, seen within SESSION_IDLE_MINUTES and younger than
    SESSION_ABSOLUTE_HOURS. `stepped_up_at` is the last fresh passkey assertion.
    """

    __tablename__ = "staff_sessions"

    id: Mapped[RowId]
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[Instant]
    last_seen_at: Mapped[Instant]
    stepped_up_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    revoked_reason: Mapped[str | None] = mapped_column(String(24), nullable=True)
    user_agent_class: Mapped[str] = mapped_column(String(32), default="other")
    ip_prefix: Mapped[str] = mapped_column(String(48), default="")


class RecoveryCode(Base):
    """One single-use recovery code: only a salted scrypt hash is stored."""

    __tablename__ = "recovery_codes"

    id: Mapped[RowId]
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    salt: Mapped[bytes] = mapped_column(LargeBinary)
    code_hash: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now_plain)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class SecurityNotification(Base):
    """A security event administrators must see (e.g. a recovery code was used)."""

    __tablename__ = "security_notifications"

    id: Mapped[RowId]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now_plain)
    kind: Mapped[str] = mapped_column(String(40))
    user_id: Mapped[str] = mapped_column(String(32))  # the staff user it concerns
    details: Mapped[str] = mapped_column(Text, default="{}")  # ids and counts only
