"""Lifecycle stage: where a patient is in their care, derived from clinical records.

Rules, applied to records that started on or before the as-of date, first match wins:

1. ``onboarding`` — the patient's first encounter was within the last 90 days.
2. ``follow_up`` — an emergency, inpatient or urgent-care encounter started within the
   last 60 days, or a care plan ended within the last 60 days (follow-up and recovery).
3. ``re_engagement`` — no encounter at all in the last 18 months (548 days).
4. ``active_treatment`` — a care plan is active (started, not stopped), or a medication
   started within the last 90 days, or a medication still running was prescribed for a
   condition that is active.
5. ``preventive`` — otherwise (preventive and long-term care).

A patient with no encounters at all, or a deceased patient, has no stage (None). When the
CDP sends a ``lifecycle_stage`` for the patient, that value wins over these rules.
"""

from __future__ import annotations

from datetime import date, timedelta

STAGES = ("onboarding", "active_treatment", "follow_up", "preventive", "re_engagement")
ONBOARDING_DAYS = 90
FOLLOW_UP_DAYS = 60
RE_ENGAGEMENT_DAYS = 548
RECENT_MEDICATION_DAYS = 90
ACUTE_CLASSES = {"emergency", "inpatient", "urgentcare"}


def day(value: str | None) -> date | None:
    """The calendar date of an ISO date or instant ('' and None give None)."""
    return date.fromisoformat(value[:10]) if value else None


def _started(records: list[dict], as_of: date) -> list[dict]:
    return [r for r in records if day(r.get("start")) and day(r["start"]) <= as_of]


def _running(record: dict, as_of: date) -> bool:
    stop = day(record.get("stop"))
    return stop is None or stop > as_of


def _follow_up(encounters, careplans, as_of: date) -> bool:
    since = as_of - timedelta(days=FOLLOW_UP_DAYS)
    acute = any(
        r.get("class") in ACUTE_CLASSES and day(r["start"]) > since for r in encounters
    )
    ended = any(
        (stop := day(r.get("stop"))) is not None and since < stop <= as_of for r in careplans
    )
    return acute or ended


def _active_treatment(careplans, medications, active_codes: set[str], as_of: date) -> bool:
    if any(_running(r, as_of) for r in careplans):
        return True
    recent = as_of - timedelta(days=RECENT_MEDICATION_DAYS)
    return any(
        day(r["start"]) > recent
        or (_running(r, as_of) and r.get("reason_code") in active_codes)
        for r in medications
    )


def lifecycle_stage(clinical: dict[str, list[dict]], active_codes: set[str],
                    as_of: date) -> str | None:
    """The stage of one patient on `as_of` (see the module docstring for the rules)."""
    encounters = _started(clinical.get("encounters", []), as_of)
    if not encounters:
        return None
    careplans = _started(clinical.get("careplans", []), as_of)
    medications = _started(clinical.get("medications", []), as_of)
    first = min(day(r["start"]) for r in encounters)
    last = max(day(r["start"]) for r in encounters)
    if first > as_of - timedelta(days=ONBOARDING_DAYS):
        return "onboarding"
    if _follow_up(encounters, careplans, as_of):
        return "follow_up"
    if last <= as_of - timedelta(days=RE_ENGAGEMENT_DAYS):
        return "re_engagement"
    if _active_treatment(careplans, medications, active_codes, as_of):
        return "active_treatment"
    return "preventive"
