"""CDP import sessions: read every path, join by CDP patient id, write in bulk.

Readers: `cdp.synthea` (Synthea CSV folders), `cdp.fhir` (FHIR R4 Bulk NDJSON),
`cdp.flat` (CSV/TSV, JSON array, NDJSON profile files) and `cdp.segment_events`.

`import_paths` is all-or-nothing inside the caller's transaction: unreadable sources fail
the whole session before anything is written, and the caller commits or rolls back. A
content HMAC of each patient's incoming record makes a re-import report `unchanged`;
suppressions are never touched by an import except to add new ones.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from flask import current_app
from sqlalchemy.orm import Session

from cdp import assemble
from cdp.dates import column_formats
from cdp.fhir import read_fhir
from cdp.flat import read_flat
from cdp.mapping import column_targets, ignored_columns
from cdp.mapping_file import Mapping, load_mapping
from cdp.report import ImportFailed, Report, failed_report
from cdp.segment_events import read_events
from cdp.sources import classify
from core.clock import local_date, utcnow
from core.crypto import KeyRing, key_ring
from core.db import new_id
from core.keys import running_rotation
from patients.consent import suppress
from patients.events import store_events
from patients.facets import derive_facets
from patients.service import (
    clinical_rows,
    empty_profile,
    existing_by_identity,
    insert_patients,
    load_clinical,
    load_profile,
    patient_row,
    replace_patients,
)


class UnsupportedFormat(ImportFailed):
    """A format named on the command line that this version cannot read."""


def _add_flat(batch: assemble.Batch, path: Path, mapping: Mapping, encoding: str | None,
              report: Report) -> None:
    table = read_flat(path, mapping, encoding)
    targets = column_targets(table.headers, mapping.columns)
    report.ignore(ignored_columns(targets))
    formats = column_formats(table.rows, targets, mapping.formats_for(table.headers),
                             path.name)
    assemble.add_flat(batch, path.name, table, targets, report, formats)


def _add_events(batch: assemble.Batch, path: Path, encoding: str | None,
                report: Report) -> None:
    tracks, identifies = read_events(path, report, encoding)
    assemble.add_identifies(batch, path.name, identifies, report)
    batch.events.extend({**event, "file": path.name} for event in tracks)


def read_sources(paths: list[Path], fmt: str, report: Report, mapping: Mapping | None = None,
                 encoding: str | None = None) -> assemble.Batch:
    """Every path read and joined into one batch (raises ImportFailed on an unusable one).

    Paths are classified first, so a bad path fails before any file is read; all FHIR
    paths are read together as one export, at the place of the first one."""
    batch, mapping = assemble.Batch(), mapping or Mapping()
    kinds = [(Path(path), classify(Path(path), fmt)) for path in paths]
    fhir_paths = [path for path, kind in kinds if kind == "fhir"]
    for path, kind in kinds:
        if kind == "synthea":
            assemble.add_synthea(batch, path, report)
        elif kind == "events":
            _add_events(batch, path, encoding, report)
        elif kind == "flat":
            _add_flat(batch, path, mapping, encoding, report)
        elif kind == "fhir" and path == fhir_paths[0]:
            assemble.add_fhir(batch, read_fhir(fhir_paths, report))
        elif kind != "fhir":
            raise UnsupportedFormat(path.name, f"the {kind} format is not supported")
    return batch


def content_hash(ring: KeyRing, incoming: assemble.Incoming) -> str:
    canonical = json.dumps({"profile": incoming.profile, "clinical": incoming.clinical},
                           sort_keys=True, separators=(",", ":"), default=str)
    return ring.blind_index("content", canonical)


class Plan:
    """The rows an import will write, and each patient key's internal id."""

    def __init__(self) -> None:
        self.new_rows: list[dict] = []
        self.changed_rows: list[dict] = []
        self.clinical: list[dict] = []
        self.ids: dict[str, str] = {}


def _merged_existing(session, patient_id: str, incoming: assemble.Incoming):
    profile = assemble.overlay(load_profile(session, patient_id), incoming.profile)
    clinical = {**load_clinical(session, patient_id), **incoming.clinical}
    return profile, clinical


def plan_patients(session: Session, batch: assemble.Batch, as_of: date,
                  report: Report) -> Plan:
    """Decide insert / update / unchanged per patient and prepare the encrypted rows."""
    ring, plan, now = key_ring(), Plan(), utcnow()
    keys = {key: ring.blind_index("cdp_id", key) for key in batch.records}
    existing = existing_by_identity(session, keys.values())
    for key, incoming in batch.records.items():
        digest = content_hash(ring, incoming)
        found = existing.get(keys[key])
        if found and found[1] == digest:
            plan.ids[key] = found[0]
            report.counts["unchanged"] += 1
            continue
        patient_id = found[0] if found else new_id()
        if found:
            profile, clinical = _merged_existing(session, patient_id, incoming)
        else:
            profile, clinical = {**empty_profile(), **incoming.profile}, incoming.clinical
        facets = derive_facets(profile, clinical, as_of)
        row = patient_row(ring, patient_id, profile, facets, digest, now)
        (plan.changed_rows if found else plan.new_rows).append(row)
        plan.clinical.extend(clinical_rows(ring, patient_id, clinical))
        plan.ids[key] = patient_id
        report.counts["updated" if found else "inserted"] += 1
    report.counts["patients_seen"] = len(batch.records)
    return plan


def resolve_events(session: Session, batch: assemble.Batch, plan: Plan,
                   report: Report) -> list[dict]:
    """Events joined to internal patient ids; unknown patients are reported and skipped."""
    ring = key_ring()
    unknown = {e["cdp_id"] for e in batch.events if e["cdp_id"] not in plan.ids}
    stored = existing_by_identity(session, [ring.blind_index("cdp_id", k) for k in unknown])
    ids = dict(plan.ids)
    ids.update({k: stored[b][0] for k in unknown
                if (b := ring.blind_index("cdp_id", k)) in stored})
    resolved = []
    for event in batch.events:
        if event["cdp_id"] not in ids:
            report.error(event["file"], event["row"], "userId", "unknown patient")
            continue
        resolved.append({**event, "patient_id": ids[event["cdp_id"]]})
    return resolved


def write_plan(session: Session, plan: Plan, batch: assemble.Batch) -> None:
    """Bulk writes: new patients, changed patients (old clinical rows dropped), clinical."""
    insert_patients(session, plan.new_rows, [])
    replace_patients(session, plan.changed_rows, [])
    insert_patients(session, [], plan.clinical)
    for email, reason in batch.suppress:
        suppress(session, email, reason)


def _as_of_day(as_of: str | date | None) -> date:
    if as_of is None:
        return local_date(utcnow(), current_app.config["ORG_TIMEZONE"])
    return date.fromisoformat(as_of) if isinstance(as_of, str) else as_of


def _refuse_during_rotation(session: Session) -> None:
    """While data keys rotate, rows not yet reached carry the old blind index: an import
    could miss its patient and create a duplicate."""
    if running_rotation(session) is not None:
        raise ImportFailed("(import)", "a data-key rotation is running; import again once "
                                       "`flask keys rotate-data` has completed")


def import_paths(session: Session, paths: list[Path], fmt: str = "auto",
                 dry_run: bool = False, as_of: str | date | None = None,
                 mapping: Path | dict | Mapping | None = None,
                 encoding: str | None = None) -> dict:
    """Import one session of CDP files; the INTERFACES.md report (plus `ignored_columns`).
    Writes nothing on failure or with `dry_run`; never commits (the caller owns the
    transaction). `mapping` is a mapping file (see `cdp.mapping_file`) for flat files;
    `encoding` declares the flat and event files' encoding (utf-8, utf-16, cp1252)."""
    report = Report()
    try:
        _refuse_during_rotation(session)
        batch = read_sources(paths, fmt, report, load_mapping(mapping), encoding)
    except ImportFailed as exc:
        return failed_report(exc)
    plan = plan_patients(session, batch, _as_of_day(as_of), report)
    if not dry_run:
        write_plan(session, plan, batch)
    events = resolve_events(session, batch, plan, report)
    report.counts["events"] = store_events(session, events, dry_run=dry_run)
    session.flush()
    return report.as_dict("dry_run" if dry_run else "completed")
