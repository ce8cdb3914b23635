"""`flask patients export`: every patient as one NDJSON object (INTERFACES.md)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.crypto import key_ring
from patients.consent import age_on
from patients.facets import frame_from_rows, suppressed_indexes
from patients.models import Patient

MAPPED = ("first_name", "last_name", "email", "birth_date", "sex", "address", "city",
          "state", "zip", "language", "timezone")


def _iso(value):
    return value.isoformat() if isinstance(value, date) else value


def export_record(profile: dict, facets: dict, as_of: date) -> dict:
    """One patient's export object: mapped fields, traits, facets and consent."""
    return {
        "cdp_id": profile.get("cdp_id") or None,
        **{key: profile.get(key) or None for key in MAPPED},
        "traits": profile.get("traits") or {},
        "facets": {
            "condition_groups": sorted({c["group"] for c in facets["conditions"]}),
            "risk_flags": facets["risk_flags"],
            "lifecycle_stage": facets["lifecycle_stage"],
            "age": age_on(facets["birth_date"], as_of),
            "last_visit": _iso(facets["last_visit"]),
            "deceased": facets["deceased"],
        },
        "consent": {
            "email_opt_in": facets["email_opt_in"],
            "marketing_authorized_at": _iso(facets["marketing_authorized_at"]),
            "suppressed": facets["suppressed"],
        },
    }


def export_lines(session: Session, as_of: date) -> Iterator[str]:
    """NDJSON lines, one per patient, in a stable order."""
    ring, blocked = key_ring(), suppressed_indexes(session)
    query = select(Patient).order_by(Patient.id).execution_options(yield_per=500)
    for patient in session.scalars(query):
        profile = ring.decrypt_json(patient.profile_enc, "patients", "profile_enc", patient.id)
        stored = ring.decrypt_json(patient.facets_enc, "patients", "facets_enc", patient.id)
        row = frame_from_rows([(patient.id, stored, patient.email_bidx in blocked)])
        facets = row.iloc[0].to_dict()
        yield json.dumps(export_record(profile, facets, as_of), ensure_ascii=False)
