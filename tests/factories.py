"""Test factories: encrypted patients and events with sensible defaults.

`make_patient(session, **overrides)` — alive adult, usable email, opt-in yes, time zone
America/Chicago, no clinical data. Any profile key (`first_name`, `email`, `birth_date`,
`traits`, …) or facet key (`lifecycle_stage`, `risk_flags`, `conditions`, `last_visit`,
`deceased`, `suppressed`, …) may be overridden; dates may be `date` objects or ISO strings.
`conditions` accepts slugs (`["prediabetes"]`, onset 2020-01-01, not abated) or full dicts.
"""

from __future__ import annotations

import itertools
import uuid
from datetime import date, datetime

from core.clock import parse_instant
from patients.consent import suppress
from patients.events import store_events
from patients.facets import demographic_facets
from patients.models import Patient
from patients.service import PROFILE_KEYS, create_patient, empty_profile

_serial = itertools.count(1)
FACET_KEYS = ("deceased", "lifecycle_stage", "risk_flags", "conditions", "last_visit",
              "email_usable", "zip3", "state_code", "marketing_authorized_at", "sex")


def _iso(value):
    return value.isoformat() if isinstance(value, date | datetime) else value


def _profile(n: int, overrides: dict) -> dict:
    profile = empty_profile()
    profile.update(
        cdp_id=str(uuid.uuid4()), first_name=f"Test{n}", last_name="Patient",
        email=f"patient{n}@example.org", birth_date="1980-05-17", sex="F",
        address=f"{n} Main Street", city="Lincoln", state="Nebraska", zip="68504",
        language="en", timezone="America/Chicago", email_opt_in="yes",
    )
    profile.update({k: _iso(v) for k, v in overrides.items() if k in PROFILE_KEYS})
    if overrides.get("deceased") and not profile["death_date"]:
        profile["death_date"] = "2023-01-01"
    return profile


def _condition(entry) -> dict:
    if isinstance(entry, str):
        return {"group": entry, "onset": "2020-01-01", "abated": None}
    return {**entry, "onset": _iso(entry["onset"]), "abated": _iso(entry.get("abated"))}


def _facets(profile: dict, overrides: dict) -> dict:
    facets = demographic_facets(profile)
    facets.update(lifecycle_stage="preventive", risk_flags=[], conditions=[], last_visit=None)
    facets.update({k: _iso(v) for k, v in overrides.items() if k in FACET_KEYS})
    facets["conditions"] = [_condition(c) for c in facets["conditions"]]
    return facets


def make_patient(session, **overrides) -> Patient:
    """Create one encrypted patient; see the module docstring for the overrides."""
    profile = _profile(next(_serial), overrides)
    facets = _facets(profile, overrides)
    patient = create_patient(session, profile, facets, overrides.get("clinical"),
                             content_hash="factory")
    if overrides.get("suppressed") and profile["email"]:
        suppress(session, profile["email"], "test")
    session.flush()
    return patient


def make_event(session, patient: Patient, name: str, occurred_at, **props) -> None:
    """Store one behavioural event of `patient` (a fresh messageId each call)."""
    when = parse_instant(occurred_at) if isinstance(occurred_at, str) else occurred_at
    store_events(session, [{
        "patient_id": patient.id, "message_id": str(uuid.uuid4()), "name": name,
        "occurred_at": when, "properties": props,
    }])
    session.flush()
