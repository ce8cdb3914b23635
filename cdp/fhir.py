"""FHIR R4 Bulk Data exports (NDJSON, one resource a line), read as a stream.

A PATH is a folder of `<ResourceType>.*.ndjson` files or one such file; every FHIR PATH
of a command is read as one export. Files are read line by line (memory grows with the
records kept, never with a file's size), files of resource types Sendwell does not use
are not opened, and lines of other types are skipped. A line that is not UTF-8 JSON
fails the whole import naming its file and record. Problems in one resource are
reported with file, record number and the FHIR element, and that value left empty.
Patients: `cdp.fhir_patient`; clinical records: `cdp.fhir_resources`. Observations are
read only for smoking status (LOINC 72166-2): the latest one becomes the
`smoking_status` trait (`current`, `former`, `never`, `unknown`), which gives the
`smoker` risk flag like a CDP-sent status.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from cdp.fhir_patient import ignored_identifiers, patient_profile
from cdp.fhir_resources import CLINICAL, ref_id
from cdp.limits import Limits, check_rows, check_size
from cdp.report import ImportFailed, Report
from cdp.sources import FHIR_FILE

USED_TYPES = {"Patient", *CLINICAL}


@dataclass
class FhirExport:
    """What one export says, keyed by Patient resource id until it is joined."""

    patients: dict[str, dict] = field(default_factory=dict)
    clinical: dict[str, dict[str, list]] = field(default_factory=dict)
    kinds: set[str] = field(default_factory=set)
    condition_codes: dict[str, str] = field(default_factory=dict)
    smoking: dict[str, dict] = field(default_factory=dict)
    orphans: dict[str, tuple[str, int]] = field(default_factory=dict)


def fhir_files(path: Path) -> list[Path]:
    """The NDJSON files of a FHIR PATH, skipping resource types Sendwell does not use."""
    if path.is_file():
        return [path]
    files = [p for p in sorted(path.iterdir()) if p.is_file() and FHIR_FILE.match(p.name)]
    if not files:
        raise ImportFailed(path.name, "holds no <ResourceType>.ndjson files (FHIR Bulk)")
    return [p for p in files if FHIR_FILE.match(p.name).group(1) in USED_TYPES]


def resources(path: Path, limits: Limits) -> Iterator[tuple[int, dict]]:
    """(record number, resource) for each non-blank line of one NDJSON file."""
    check_size(path, limits)
    record = 0
    with path.open("rb") as handle:
        for line, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            record += 1
            check_rows(path.name, record, limits)
            try:
                resource = json.loads(raw.removeprefix(b"\xef\xbb\xbf").decode("utf-8"))
            except ValueError as exc:
                raise ImportFailed(path.name, f"line {line} is not valid UTF-8 JSON",
                                   row=record) from exc
            if not isinstance(resource, dict) or not resource.get("resourceType"):
                raise ImportFailed(path.name, f"line {line} is not a FHIR resource",
                                   row=record, field="resourceType")
            yield record, resource


def _add_patient(export: FhirExport, name: str, row: int, res: dict, report: Report) -> None:
    profile, problems = patient_profile(res)
    report.ignore(ignored_identifiers(res))
    for element, message in problems:
        report.error(name, row, element, message)
    if not profile["cdp_id"]:
        report.reject(name, row, "identifier", "no usable patient identifier")
        return
    resource_id = str(res.get("id") or profile["cdp_id"])
    if resource_id in export.patients:
        report.error(name, row, "id", "Patient resource repeated; the last one is used")
    export.patients[resource_id] = profile


def _add_clinical(export: FhirExport, name: str, row: int, res: dict, report: Report) -> None:
    kind, convert = CLINICAL[res["resourceType"]]
    problems: list = []
    record = convert(res, problems)
    for element, message in problems:
        report.error(name, row, element, message)
    if res["resourceType"] == "Condition" and record and res.get("id"):
        export.condition_codes[str(res["id"])] = record["code"]
    patient = ref_id(res.get("subject") or res.get("patient"))
    if record is None:
        return
    if patient is None:
        report.error(name, row, "subject", "no patient reference")
        return
    export.orphans.setdefault(patient, (name, row))
    if kind == "smoking":
        latest = export.smoking.get(patient)
        if latest is None or record["start"][:10] >= latest["start"][:10]:
            export.smoking[patient] = record
        return
    export.kinds.add(kind)
    export.clinical.setdefault(patient, {}).setdefault(kind, []).append(record)


def _resolve(export: FhirExport, report: Report) -> None:
    """Reason references to condition codes; records of unknown patients reported."""
    for by_kind in export.clinical.values():
        for records in by_kind.values():
            for record in records:
                if "_reason_ref" in record:
                    ref = record.pop("_reason_ref")
                    record["reason_code"] = export.condition_codes.get(ref, "")
    for patient in set(export.clinical) | set(export.smoking):
        if patient not in export.patients:
            name, row = export.orphans.get(patient, ("", 0))
            report.error(name, row, "subject", "refers to a patient not in the export; "
                         "that patient's records are skipped")


def read_fhir(paths: list[Path], report: Report, limits: Limits | None = None) -> FhirExport:
    """Every FHIR PATH of one import read into one export."""
    export, limits = FhirExport(), limits or Limits.from_config()
    for path in paths:
        for file in fhir_files(path):
            for row, res in resources(file, limits):
                if res["resourceType"] == "Patient":
                    _add_patient(export, file.name, row, res, report)
                elif res["resourceType"] in CLINICAL:
                    _add_clinical(export, file.name, row, res, report)
    if not export.patients and not report.counts["rejected"]:
        raise ImportFailed(paths[0].name, "the FHIR export holds no Patient resources")
    _resolve(export, report)
    return export
