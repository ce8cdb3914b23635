"""Derived facets: what segments evaluate, computed at import and stored encrypted.

`derive_facets` turns a profile and its clinical records into one JSON-ready dict;
`frame_from_rows` shapes decrypted facets into the frame segments evaluate; `facet_frame`
serves that frame for every patient from the encrypted columnar snapshot, with the
suppression list applied.
"""

from __future__ import annotations

from datetime import date

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from patients.condition_groups import groups_for_code
from patients.geo import state_and_code
from patients.lifecycle import STAGES, day, lifecycle_stage
from patients.models import Suppression
from patients.snapshot import facet_snapshot

RISK_GROUPS = ("obesity", "prediabetes", "hypertension", "diabetes", "chronic_kidney_disease")
SEX_CODES = {"f": "F", "female": "F", "w": "F", "m": "M", "male": "M", "other": "other"}
FRAME_COLUMNS = [
    "birth_date", "deceased", "sex", "state", "state_code", "zip3", "language", "timezone",
    "email_usable", "email_opt_in", "marketing_authorized_at", "suppressed",
    "lifecycle_stage", "risk_flags", "conditions", "last_visit", "traits",
]


def normalize_sex(raw: str | None) -> str:
    return SEX_CODES.get((raw or "").strip().lower(), "unknown")


def demographic_facets(profile: dict) -> dict:
    """Facets read straight off the profile (no clinical data needed)."""
    state, code = state_and_code(profile.get("state"))
    zip_code = (profile.get("zip") or "").strip()
    return {
        "birth_date": profile.get("birth_date") or None,
        "deceased": bool(profile.get("death_date")) or profile.get("deceased") is True,
        "sex": normalize_sex(profile.get("sex")),
        "state": state, "state_code": code,
        "zip3": zip_code[:3] if len(zip_code) >= 3 and zip_code.strip("0") else None,
        "language": profile.get("language") or "",
        "timezone": profile.get("timezone") or None,
        "email_usable": bool(profile.get("email")),
        "email_opt_in": profile.get("email_opt_in") or "",
        "marketing_authorized_at": profile.get("marketing_authorized_at") or None,
        "traits": profile.get("traits") or {},
    }


def condition_facets(conditions: list[dict], as_of: date) -> list[dict]:
    """Conditions that belong to a value set and began by `as_of`, one entry per episode."""
    found = {}
    for record in conditions:
        onset = day(record.get("start"))
        if onset is None or onset > as_of:
            continue
        for group in groups_for_code(record.get("code", "")):
            abated = day(record.get("stop"))
            key = (group, onset, abated)
            found[key] = {"group": group, "onset": onset.isoformat(),
                          "abated": abated.isoformat() if abated else None}
    return sorted(found.values(), key=lambda c: (c["group"], c["onset"]))


def active_groups(conditions: list[dict], as_of: date) -> set[str]:
    """Groups with a condition active on `as_of`: onset on or before it, not abated before
    it (a condition abating on that very day still counts, as in the rule language)."""
    iso = as_of.isoformat()
    return {c["group"] for c in conditions if c["abated"] is None or c["abated"] >= iso}


def risk_flags(groups: set[str], traits: dict) -> list[str]:
    """Smoker (CDP says current, or a tobacco-use condition) plus the risk condition groups."""
    flags = [g for g in RISK_GROUPS if g in groups]
    smoking = str(traits.get("smoking_status", "")).strip().lower()
    if smoking == "current" or "tobacco_use" in groups:
        flags.insert(0, "smoker")
    return flags


def _active_codes(records: list[dict], as_of: date) -> set[str]:
    return {
        r.get("code", "") for r in records
        if (s := day(r.get("start"))) and s <= as_of
        and ((e := day(r.get("stop"))) is None or e >= as_of)
    }


def _last_visit(encounters: list[dict], as_of: date) -> str | None:
    days = [d for r in encounters if (d := day(r.get("start"))) and d <= as_of]
    return max(days).isoformat() if days else None


def derive_facets(profile: dict, clinical: dict[str, list[dict]], as_of: date) -> dict:
    """Every stored facet of one patient on `as_of` (JSON-ready: dates as ISO strings)."""
    facets = demographic_facets(profile)
    conditions = condition_facets(clinical.get("conditions", []), as_of)
    groups = active_groups(conditions, as_of)
    active = _active_codes(clinical.get("conditions", []), as_of)
    stage = None if facets["deceased"] else lifecycle_stage(clinical, active, as_of)
    override = str(profile.get("lifecycle_stage") or "").strip().lower()
    facets.update(
        conditions=conditions,
        risk_flags=risk_flags(groups, facets["traits"]),
        lifecycle_stage=override if override in STAGES else stage,
        last_visit=_last_visit(clinical.get("encounters", []), as_of),
    )
    return facets


def suppressed_indexes(session: Session) -> set[str]:
    return set(session.scalars(select(Suppression.email_bidx)))


def _to_date(value):
    return date.fromisoformat(value[:10]) if value else None


def frame_from_rows(rows: list[tuple[str, dict, bool]]) -> pd.DataFrame:
    """Build the facet frame from (patient id, stored facets, suppressed) triples."""
    records = []
    for _patient_id, facets, suppressed in rows:
        record = {key: facets.get(key) for key in FRAME_COLUMNS}
        for key in ("birth_date", "marketing_authorized_at", "last_visit"):
            record[key] = _to_date(record[key])
        record.update(
            suppressed=suppressed, deceased=bool(record["deceased"]),
            email_usable=bool(record["email_usable"]),
            risk_flags=list(record["risk_flags"] or []),
            conditions=list(record["conditions"] or []), traits=dict(record["traits"] or {}),
            sex=record["sex"] or "unknown", email_opt_in=record["email_opt_in"] or "",
        )
        records.append(record)
    index = pd.Index([r[0] for r in rows], name="patient_id", dtype=object)
    frame = pd.DataFrame(records, index=index, columns=FRAME_COLUMNS, dtype=object)
    # object columns keep None as None (pandas 3 would turn str columns' None into NaN)
    return frame.astype({"deceased": bool, "email_usable": bool, "suppressed": bool})


def facet_frame(session: Session) -> pd.DataFrame:
    """All patients' facets (deceased included), index `patient_id`.

    Read from the encrypted columnar snapshot (`patients.snapshot`), rebuilt first if any
    patient changed, and decoded once per generation in this process: never a per-row
    decrypt per call. The frame is shared by reference — treat its cells as read-only.
    """
    return facet_snapshot(session).frame.copy(deep=False)
