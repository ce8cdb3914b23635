"""One import session's records, joined by CDP patient id across every source.

Synthea gives the base profile and the clinical records; flat files and `identify` calls
overlay their non-empty fields. A second row for the same patient in contact sources is a
duplicate and is merged into the first (first non-empty value wins; an opt-out wins).
Patients without a CDP id (flat files with only an email) are keyed by their email.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from cdp.mapping import SUPPRESSING_STATUSES, column_targets, map_row
from cdp.report import Report
from cdp.synthea import read_clinical, read_patients


@dataclass
class Incoming:
    """What this session says about one patient."""

    profile: dict = field(default_factory=lambda: {"traits": {}})
    clinical: dict[str, list] = field(default_factory=dict)
    contact_seen: bool = False


@dataclass
class Batch:
    records: dict[str, Incoming] = field(default_factory=dict)
    events: list[dict] = field(default_factory=list)
    suppress: list[tuple[str, str]] = field(default_factory=list)


def overlay(base: dict, incoming: dict, duplicate: bool = False) -> dict:
    """`incoming`'s non-empty fields over `base` (for a duplicate, `base` keeps its values)."""
    merged = {**base, "traits": dict(base.get("traits") or {})}
    for key, value in incoming.items():
        if key == "traits":
            for name, trait in value.items():
                if trait != "" and not (duplicate and merged["traits"].get(name)):
                    merged["traits"][name] = trait
        elif value not in ("", None) and not (duplicate and merged.get(key)):
            merged[key] = value
    if duplicate and "no" in (base.get("email_opt_in"), incoming.get("email_opt_in")):
        merged["email_opt_in"] = "no"
    return merged


def add_synthea(batch: Batch, folder: Path, report: Report) -> None:
    patients = read_patients(folder)
    clinical = read_clinical(folder)
    for row in patients.to_dict("records"):
        key = row["cdp_id"].strip()
        record = batch.records.setdefault(key, Incoming())
        record.profile = overlay(record.profile, row)
        record.clinical = {kind: by_patient.get(key, []) for kind, by_patient in clinical.items()}


def _key(profile: dict, has_id_column: bool) -> str | None:
    if has_id_column:
        return profile.get("cdp_id") or None
    return f"email:{profile['email']}" if profile.get("email") else None


def add_contact(batch: Batch, name: str, row_number: int, profile: dict,
                has_id_column: bool, report: Report, duplicates_merge: bool = True) -> None:
    """Join one contact row to its patient (or reject it when it names nobody)."""
    key = _key(profile, has_id_column)
    if key is None:
        which = "patient_id" if has_id_column else "email"
        report.reject(name, row_number, which, "no usable patient identifier")
        return
    status = str(profile.pop("status", "") or "").lower()
    if profile.get("email") and status.startswith(SUPPRESSING_STATUSES):
        batch.suppress.append((profile["email"], status[:40]))
    record = batch.records.setdefault(key, Incoming())
    duplicate = duplicates_merge and record.contact_seen
    if duplicate:
        report.counts["merged"] += 1
    record.profile = overlay(record.profile, profile, duplicate=duplicate)
    record.contact_seen = record.contact_seen or duplicates_merge


def add_rows(batch: Batch, name: str, rows: list[dict], targets: dict[str, str],
             report: Report) -> None:
    has_id = "cdp_id" in targets.values()
    for number, row in enumerate(rows, start=1):
        profile, problems = map_row(row, targets)
        for column, message in problems:
            report.error(name, number, column, message)
        add_contact(batch, name, number, profile, has_id, report)


def add_flat(batch: Batch, name: str, frame: pd.DataFrame, targets: dict[str, str],
             report: Report) -> None:
    add_rows(batch, name, frame.to_dict("records"), targets, report)


def add_identifies(batch: Batch, name: str, calls: list[tuple[int, dict]],
                   report: Report) -> None:
    for number, traits in calls:
        targets = column_targets(list(traits))
        profile, problems = map_row({k: str(v) for k, v in traits.items()}, targets)
        for column, message in problems:
            report.error(name, number, column, message)
        add_contact(batch, name, number, profile, True, report, duplicates_merge=False)
