"""One import session's records, joined by CDP patient id across every source.

Synthea folders and FHIR exports give the base profile and the clinical records; flat
files and `identify` calls overlay their non-empty fields. A second row for the same
patient in contact sources is a duplicate and is merged into the first (first non-empty
value wins; an opt-out wins).
Patients without a CDP id (flat files with only an email) are keyed by their email.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from cdp.fhir import FhirExport
from cdp.flat import FlatTable
from cdp.mapping import SUPPRESSING_STATUSES, column_targets, map_row
from cdp.report import Report
from cdp.synthea import ignored_columns, read_clinical, read_patients


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
    report.ignore(ignored_columns(folder))
    for row in patients.to_dict("records"):
        key = row["cdp_id"].strip()
        record = batch.records.setdefault(key, Incoming())
        record.profile = overlay(record.profile, row)
        record.clinical = {kind: by_patient.get(key, []) for kind, by_patient in clinical.items()}


def conflicting_fields(base: dict, incoming: dict) -> list[str]:
    """Fields two rows of one patient both fill, with different values (never the values)."""
    return sorted(
        key for key, value in incoming.items()
        if key != "traits" and value not in ("", None)
        and base.get(key) not in ("", None) and base[key] != value
    )


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
        for field_name in conflicting_fields(record.profile, profile):
            kept = "the opt-out" if field_name == "email_opt_in" else "the earlier value"
            report.error(name, row_number, field_name,
                         f"differs from an earlier row for the same patient; {kept} was kept")
    record.profile = overlay(record.profile, profile, duplicate=duplicate)
    record.contact_seen = record.contact_seen or duplicates_merge


def add_fhir(batch: Batch, export: FhirExport) -> None:
    """Each FHIR patient's profile (with its smoking status) and clinical records."""
    joined: set[str] = set()
    for resource_id, profile in export.patients.items():
        key = profile["cdp_id"]
        if smoking := export.smoking.get(resource_id):
            profile["traits"]["smoking_status"] = smoking["status"]
        record = batch.records.setdefault(key, Incoming())
        record.profile = overlay(record.profile, profile)
        clinical = export.clinical.get(resource_id, {})
        for kind in sorted(export.kinds):
            records = clinical.get(kind, [])
            record.clinical[kind] = (record.clinical.get(kind, []) + records
                                     if key in joined else records)
        joined.add(key)


def add_rows(batch: Batch, name: str, rows: list[dict], targets: dict[str, str],
             report: Report, date_formats: dict[str, str] | None = None,
             skip: frozenset[int] = frozenset()) -> None:
    has_id = "cdp_id" in targets.values()
    for number, row in enumerate(rows, start=1):
        if number in skip:
            continue
        profile, problems = map_row(row, targets, date_formats)
        for column, message in problems:
            report.error(name, number, column, message)
        add_contact(batch, name, number, profile, has_id, report)


def add_flat(batch: Batch, name: str, table: FlatTable, targets: dict[str, str],
             report: Report, date_formats: dict[str, str]) -> None:
    for row, column, message in table.problems:
        report.error(name, row, column, message)
    for row, message in table.malformed.items():
        report.reject(name, row, "(row)", message)
    add_rows(batch, name, table.rows, targets, report, date_formats,
             skip=frozenset(table.malformed))


def add_identifies(batch: Batch, name: str, calls: list[tuple[int, dict]],
                   report: Report) -> None:
    for number, traits in calls:
        targets = column_targets(list(traits))
        profile, problems = map_row({k: str(v) for k, v in traits.items()}, targets)
        for column, message in problems:
            report.error(name, number, column, message)
        add_contact(batch, name, number, profile, True, report, duplicates_merge=False)
