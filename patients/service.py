"""Patient profiles: encrypted writes (single and bulk), look-ups by blind index, reads.

A profile is a dict of the mapped CDP fields plus `traits` and consent; it is stored in
`profile_enc`, the derived facets in `facets_enc`. Only blind indexes of the CDP id and the
normalised email are stored in the clear, so equality look-ups work without decrypting.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from core.clock import utcnow
from core.crypto import KeyRing, key_ring
from core.db import new_id
from core.errors import NotFound
from patients.emails import normalize_email
from patients.facets import frame_from_rows, suppressed_indexes
from patients.models import ClinicalRecord, Patient

PROFILE_KEYS = (
    "cdp_id", "first_name", "last_name", "email", "birth_date", "death_date", "sex",
    "address", "city", "state", "zip", "language", "timezone", "email_opt_in",
    "marketing_authorized_at", "lifecycle_stage", "traits",
)
CLINICAL_KINDS = ("conditions", "encounters", "medications", "careplans",
                  "immunizations", "procedures", "allergies")


def empty_profile() -> dict:
    profile = dict.fromkeys(PROFILE_KEYS, "")
    profile.update(email=None, marketing_authorized_at=None, traits={})
    return profile


def identity_key(profile: dict) -> str:
    """What the CDP id blind index covers: the CDP id, or the email for id-less files."""
    if profile.get("cdp_id"):
        return str(profile["cdp_id"])
    return f"email:{profile['email']}"


def patient_row(ring: KeyRing, patient_id: str, profile: dict, facets: dict,
                content_hash: str, now: datetime) -> dict:
    """One `patients` row, encrypted and bound to its id (for Core bulk writes)."""
    email = normalize_email(profile.get("email"))
    return {
        "id": patient_id,
        "cdp_id_bidx": ring.blind_index("cdp_id", identity_key(profile)),
        "email_bidx": ring.blind_index("email", email) if email else None,
        "profile_enc": ring.encrypt_json(profile, "patients", "profile_enc", patient_id),
        "facets_enc": ring.encrypt_json(facets, "patients", "facets_enc", patient_id),
        "content_hash": content_hash,
        "created_at": now,
        "updated_at": now,
    }


def clinical_rows(ring: KeyRing, patient_id: str, clinical: dict[str, list]) -> list[dict]:
    """One encrypted `clinical_records` row per kind of record the patient has."""
    rows = []
    for kind in CLINICAL_KINDS:
        if clinical.get(kind):
            row_id = new_id()
            rows.append({
                "id": row_id, "patient_id": patient_id, "kind": kind,
                "data_enc": ring.encrypt_json(clinical[kind], "clinical_records", "data_enc",
                                              row_id),
            })
    return rows


def insert_patients(session: Session, rows: list[dict], clinical: list[dict]) -> None:
    """Bulk-insert prepared patient and clinical rows (Core executemany)."""
    if rows:
        session.execute(insert(Patient), rows)
    if clinical:
        session.execute(insert(ClinicalRecord), clinical)


def replace_patients(session: Session, rows: list[dict], clinical: list[dict]) -> None:
    """Overwrite existing patients' encrypted columns and clinical records in bulk."""
    if not rows:
        return
    ids = [row["id"] for row in rows]
    session.execute(delete(ClinicalRecord).where(ClinicalRecord.patient_id.in_(ids)))
    for row in rows:
        values = {k: v for k, v in row.items() if k not in ("id", "created_at")}
        session.execute(update(Patient).where(Patient.id == row["id"]).values(**values))
    if clinical:
        session.execute(insert(ClinicalRecord), clinical)


def existing_by_identity(session: Session, keys: Iterable[str]) -> dict[str, tuple[str, str]]:
    """{cdp_id blind index: (patient id, content hash)} for the patients already stored."""
    found = {}
    wanted = list(keys)
    for start in range(0, len(wanted), 500):
        chunk = wanted[start:start + 500]
        query = select(Patient.cdp_id_bidx, Patient.id, Patient.content_hash).where(
            Patient.cdp_id_bidx.in_(chunk)
        )
        found.update({bidx: (pid, digest) for bidx, pid, digest in session.execute(query)})
    return found


def create_patient(session: Session, profile: dict, facets: dict,
                   clinical: dict | None = None, content_hash: str = "") -> Patient:
    """Store one new patient (encrypted) and return it."""
    ring, patient_id = key_ring(), new_id()
    row = patient_row(ring, patient_id, profile, facets, content_hash, utcnow())
    insert_patients(session, [row], clinical_rows(ring, patient_id, clinical or {}))
    return session.get(Patient, patient_id)


def update_patient(session: Session, patient: Patient, profile: dict, facets: dict,
                   clinical: dict | None = None, content_hash: str = "") -> Patient:
    """Overwrite one patient's profile, facets and clinical records."""
    ring = key_ring()
    row = patient_row(ring, patient.id, profile, facets, content_hash, utcnow())
    replace_patients(session, [row], clinical_rows(ring, patient.id, clinical or {}))
    session.refresh(patient)
    return patient


def find_by_cdp_id(session: Session, cdp_id: str) -> Patient | None:
    """The patient with this CDP id (either index version during a key rotation)."""
    indexes = key_ring().blind_indexes("cdp_id", str(cdp_id))
    return session.scalars(select(Patient).where(Patient.cdp_id_bidx.in_(indexes))).first()


def _get(session: Session, patient_id: str) -> Patient:
    patient = session.get(Patient, patient_id)
    if patient is None:
        raise NotFound("no such patient")
    return patient


def load_profile(session: Session, patient_id: str) -> dict:
    """The decrypted profile of one patient (keys of `PROFILE_KEYS`)."""
    patient = _get(session, patient_id)
    stored = key_ring().decrypt_json(patient.profile_enc, "patients", "profile_enc", patient.id)
    return {**empty_profile(), **stored}


def load_clinical(session: Session, patient_id: str) -> dict[str, list]:
    """The decrypted clinical records of one patient, by kind."""
    ring = key_ring()
    rows = session.scalars(select(ClinicalRecord).where(ClinicalRecord.patient_id == patient_id))
    return {
        row.kind: ring.decrypt_json(row.data_enc, "clinical_records", "data_enc", row.id)
        for row in rows
    }


def facets_for(session: Session, patient_id: str) -> dict:
    """One row of the facet frame, as a dict (plus `patient_id`)."""
    patient = _get(session, patient_id)
    facets = key_ring().decrypt_json(patient.facets_enc, "patients", "facets_enc", patient.id)
    suppressed = patient.email_bidx in suppressed_indexes(session) if patient.email_bidx else False
    row = frame_from_rows([(patient.id, facets, suppressed)]).iloc[0].to_dict()
    return {"patient_id": patient.id, **row}
