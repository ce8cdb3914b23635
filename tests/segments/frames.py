"""Synthetic facet and event frames in the schema of `patients.facets.facet_frame`."""

from __future__ import annotations

from datetime import date

import pandas as pd

from core.clock import end_of_day, parse_instant

TZ = "America/Chicago"
AS_OF = end_of_day(date(2023, 12, 31), TZ)
DEFAULTS = {
    "birth_date": date(1980, 5, 17), "deceased": False, "sex": "F", "state": "Nebraska",
    "state_code": "NE", "zip3": "685", "language": "en", "timezone": "America/Chicago",
    "email_usable": True, "email_opt_in": "yes", "marketing_authorized_at": None,
    "suppressed": False, "lifecycle_stage": "preventive", "risk_flags": [], "conditions": [],
    "last_visit": None, "traits": {},
}


def facets(rows: dict[str, dict]) -> pd.DataFrame:
    """{patient id: overrides} -> facet frame (defaults: alive adult woman in Nebraska)."""
    records = [{**DEFAULTS, **overrides} for overrides in rows.values()]
    index = pd.Index(list(rows), name="patient_id", dtype=object)
    frame = pd.DataFrame(records, index=index, columns=list(DEFAULTS), dtype=object)
    return frame.astype({"deceased": bool, "email_usable": bool, "suppressed": bool})


def events(rows: list[tuple]) -> pd.DataFrame:
    """[(patient id, name, ISO instant, properties)] -> events frame."""
    frame = pd.DataFrame(
        [(p, n, parse_instant(t), props) for p, n, t, props in rows],
        columns=["patient_id", "name", "occurred_at", "properties"],
    )
    frame["occurred_at"] = pd.to_datetime(frame["occurred_at"], utc=True)
    return frame.astype({"patient_id": object, "name": object})


def members(mask: pd.Series) -> list[str]:
    return sorted(mask.index[mask.to_numpy()])
