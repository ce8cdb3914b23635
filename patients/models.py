"""Patients: encrypted profiles and facets, clinical records, behavioural events, suppression.

Every PHI value lives in a `*_enc` column (see `core.crypto`); plain columns hold only
random ids, blind indexes, timestamps the product schedules by, and booleans that are not
clinical. Deceased patients keep their row but are never members or recipients.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, BlindIndex, Ciphertext, Instant, RowId, UTCDateTime, utc_now_plain


class Patient(Base):
    """One patient, keyed by a random id; found by the blind index of the CDP id or email.

    `profile_enc` holds the mapped fields, traits and consent (JSON); `facets_enc` the
    derived facets segments evaluate (condition groups with dates, risk flags, lifecycle
    stage, birth date, sex, state, zip3, last visit, deceased, reachability inputs).
    `content_hash` is an HMAC of the imported record, so a re-import can say "unchanged".
    """

    __tablename__ = "patients"

    id: Mapped[RowId]
    cdp_id_bidx: Mapped[BlindIndex] = mapped_column(unique=True)
    email_bidx: Mapped[str | None] = mapped_column(String(64), index=True)
    profile_enc: Mapped[Ciphertext]
    facets_enc: Mapped[Ciphertext]
    content_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now_plain)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now_plain)


class ClinicalRecord(Base):
    """A condition, medication, encounter or care plan of a patient; its values encrypted."""

    __tablename__ = "clinical_records"

    id: Mapped[RowId]
    patient_id: Mapped[str] = mapped_column(
        ForeignKey("patients.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(20))
    data_enc: Mapped[Ciphertext]


class PatientEvent(Base):
    """A behavioural event from the CDP (Segment `track`); name and properties encrypted.

    `message_id_bidx` makes ingestion idempotent on the CDP's `messageId`.
    """

    __tablename__ = "patient_events"

    id: Mapped[RowId]
    patient_id: Mapped[str] = mapped_column(
        ForeignKey("patients.id", ondelete="CASCADE"), index=True
    )
    message_id_bidx: Mapped[BlindIndex] = mapped_column(unique=True)
    occurred_at: Mapped[Instant]
    data_enc: Mapped[Ciphertext]


class Suppression(Base):
    """An address that must not be mailed; keyed by the email's blind index so it survives
    deleting or re-importing the profile."""

    __tablename__ = "suppressions"

    id: Mapped[RowId]
    email_bidx: Mapped[BlindIndex] = mapped_column(unique=True)
    reason: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[Instant]
