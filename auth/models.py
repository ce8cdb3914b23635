"""Staff users, their passkeys, one-time enrolment links and WebAuthn challenges."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from flask_login import UserMixin
from sqlalchemy import ForeignKey, Integer, LargeBinary, String
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
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[Instant]
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class WebAuthnChallenge(Base):
    """A challenge issued for one ceremony; consumed (deleted) by its first use."""

    __tablename__ = "webauthn_challenges"

    id: Mapped[RowId]
    purpose: Mapped[str] = mapped_column(String(16))  # register | authenticate
    user_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    challenge: Mapped[bytes] = mapped_column(LargeBinary)
    expires_at: Mapped[Instant]
