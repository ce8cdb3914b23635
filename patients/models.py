"""Patients: encrypted profiles and facets, clinical records, behavioural events, suppression.

Every PHI value lives in a `*_enc` column (see `core.crypto`); plain columns hold only
random ids, blind indexes, timestamps the product schedules by, and booleans that are not
clinical. Deceased patients keep their row but are never members or recipients.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
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


class FacetState(Base):
    """One row (id 1): change tokens, and which generation of blocks is current."""

    __tablename__ = "facet_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    facets_token: Mapped[str] = mapped_column(String(32))
    events_token: Mapped[str] = mapped_column(String(32))
    suppressions_token: Mapped[str] = mapped_column(String(32))
    generation: Mapped[str | None] = mapped_column(String(32))
    built_from: Mapped[str | None] = mapped_column(String(32))
    block_count: Mapped[int] = mapped_column(Integer, default=0)


class FacetBlock(Base):
    """Up to `BLOCK_ROWS` patients' facets, columnar and encrypted as one ciphertext."""

    __tablename__ = "facet_blocks"

    id: Mapped[RowId]
    block_no: Mapped[int] = mapped_column(Integer)
    generation: Mapped[str] = mapped_column(String(32), index=True)
    data_enc: Mapped[Ciphertext]
