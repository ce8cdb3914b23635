"""FHIR R4 Bulk NDJSON import: the bundled 13-patient sample and small edge-case files."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import date
from pathlib import Path

from sqlalchemy import func, select

from cdp.service import import_paths
from patients.condition_groups import groups_for_code
from patients.lifecycle import STAGES
from patients.models import ClinicalRecord, Patient
from patients.service import facets_for, find_by_cdp_id, load_profile
from tests.conftest import SAMPLE

FHIR = SAMPLE / "fhir-bulk-10"
SYNTHEA = SAMPLE / "synthea-csv-nebraska"
DATA = Path(__file__).resolve().parent / "data"
EXTRA = DATA / "fhir-extra"
DECEASED = {"129c6ac7-8d06-89de-ad63-0204a93e76c3", "3af3708d-41f1-cd80-f3dd-ec5ac76072bf",
            "79a66c97-6131-3213-f3c9-4606946ab056"}


def run(session, paths, **kwargs):
    return import_paths(session, paths, as_of=date(2023, 12, 31), **kwargs)


def lines(name: str) -> list[dict]:
    return [json.loads(line) for line in (FHIR / name).read_text(encoding="utf-8").splitlines()]


def all_facets(session) -> dict[str, dict]:
    ids = list(session.scalars(select(Patient.id)))
    return {load_profile(session, pid)["cdp_id"]: facets_for(session, pid) for pid in ids}


def expected_groups() -> dict[str, set[str]]:
    """Condition groups per patient computed straight from the raw Condition codes."""
    found = defaultdict(set)
    for condition in lines("Condition.000.ndjson"):
        patient = condition["subject"]["reference"].removeprefix("Patient/")
        found[patient].update(groups_for_code(condition["code"]["coding"][0]["code"]))
    return found


def expected_last_visits() -> dict[str, date]:
    found: dict[str, date] = {}
    for encounter in lines("Encounter.000.ndjson"):
        patient = encounter["subject"]["reference"].removeprefix("Patient/")
        day = date.fromisoformat(encounter["period"]["start"][:10])
        found[patient] = max(day, found.get(patient, day))
    return found


def test_fhir_sample_imports_thirteen_patients(session):
    report = run(session, [FHIR])
    assert (report["status"], report["patients_seen"], report["inserted"]) == (
        "completed", 13, 13)
    assert (report["rejected"], report["errors"]) == (0, [])
    assert session.scalar(select(func.count()).select_from(Patient)) == 13


def test_fhir_sample_deceased_and_sexes(session):
    run(session, [FHIR])
    facets = all_facets(session)
    assert {cdp_id for cdp_id, f in facets.items() if f["deceased"]} == DECEASED
    sexes = sorted(f["sex"] for f in facets.values())
    assert sexes == ["F"] * 9 + ["M"] * 4
    assert all(f["email_usable"] is False for f in facets.values())


def test_fhir_sample_condition_groups_match_raw_codes(session):
    run(session, [FHIR])
    groups = {cdp_id: {c["group"] for c in f["conditions"]}
              for cdp_id, f in all_facets(session).items()}
    assert groups == {cdp_id: expected_groups().get(cdp_id, set()) for cdp_id in groups}
    assert groups["79a66c97-6131-3213-f3c9-4606946ab056"] >= {"diabetes", "hypertension"}


def test_fhir_sample_facets_equal_in_kind_to_synthea(session):
    run(session, [FHIR, SYNTHEA])
    facets = all_facets(session)
    fhir = {k: v for k, v in facets.items() if k in expected_last_visits()}
    synthea = facets["eae4c6a5-46e2-a8ce-883a-54f43839f4bf"]
    for cdp_id, f in fhir.items():
        assert set(f) == set(synthea)
        assert f["last_visit"] == expected_last_visits()[cdp_id]
        assert f["lifecycle_stage"] is None if f["deceased"] else f["lifecycle_stage"] in STAGES
        assert (f["state"], f["state_code"]) == ("Kansas", "KS")


def test_fhir_profile_fields_and_traits(session):
    run(session, [FHIR])
    patient = find_by_cdp_id(session, "129c6ac7-8d06-89de-ad63-0204a93e76c3")
    profile = load_profile(session, patient.id)
    assert (profile["first_name"], profile["last_name"]) == ("Sumiko", "Medhurst")
    assert (profile["birth_date"], profile["death_date"]) == ("1927-05-21", "1989-05-09")
    assert (profile["city"], profile["zip"], profile["language"]) == ("Emporia", "66801", "en")
    assert profile["traits"] == {"race": "White", "ethnicity": "Not Hispanic or Latino",
                                 "birth_sex": "F"}
    assert "999-94-5397" not in json.dumps(profile)
    assert "555-810-7203" not in json.dumps(profile)


def test_fhir_report_lists_never_stored_identifiers(session):
    report = run(session, [FHIR])
    assert report["ignored_columns"] == [
        "Patient.identifier (SSN)", "Patient.identifier (driver's licence)",
        "Patient.identifier (passport)"]


def test_fhir_reimport_is_unchanged(session):
    run(session, [FHIR])
    records = session.scalar(select(func.count()).select_from(ClinicalRecord))
    again = run(session, [FHIR])
    assert (again["inserted"], again["updated"], again["unchanged"]) == (0, 0, 13)
    assert session.scalar(select(func.count()).select_from(ClinicalRecord)) == records


def test_fhir_bad_json_line_fails_and_writes_nothing(session):
    report = run(session, [DATA / "fhir-bad-json"])
    assert report["status"] == "failed"
    assert report["errors"] == [{"file": "Patient.000.ndjson", "row": 3, "field": "",
                                 "message": "line 3 is not valid UTF-8 JSON"}]
    assert session.scalar(select(func.count()).select_from(Patient)) == 0


def test_fhir_single_file_is_detected(session):
    report = run(session, [FHIR / "Patient.000.ndjson"])
    assert (report["status"], report["inserted"]) == ("completed", 13)


def test_fhir_format_flag_reads_a_folder(session):
    report = run(session, [FHIR], fmt="fhir")
    assert (report["status"], report["inserted"]) == ("completed", 13)


def test_fhir_export_without_patients_fails(session):
    report = run(session, [FHIR / "Condition.000.ndjson"])
    assert report["status"] == "failed"
    assert "no Patient resources" in report["errors"][0]["message"]
