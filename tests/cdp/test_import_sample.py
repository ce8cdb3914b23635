"""Importing the bundled Nebraska sample: counts, errors, re-import, PHI at rest."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select

from cdp.service import import_paths
from patients.consent import is_suppressed, suppress
from patients.models import ClinicalRecord, Patient, PatientEvent
from patients.service import facets_for, find_by_cdp_id, load_profile
from tests.conftest import SAMPLE

SYNTHEA = SAMPLE / "synthea-csv-nebraska"
CONTACTS = SAMPLE / "cdp-nebraska" / "contacts.csv"
EVENTS = SAMPLE / "cdp-nebraska" / "events.ndjson"
ALL = [SYNTHEA, CONTACTS, EVENTS]
INVALID_EMAIL_ROWS = [9, 16, 58, 65]


def run(session, paths=ALL, **kwargs):
    return import_paths(session, paths, as_of=date(2023, 12, 31), **kwargs)


def test_import_sample_counts(session):
    report = run(session)
    assert report["status"] == "completed"
    assert report["patients_seen"] == 111
    assert report["inserted"] == 111
    assert report["merged"] == 1
    assert report["rejected"] == 0
    assert report["events"] == 213
    assert session.scalar(select(func.count()).select_from(Patient)) == 111
    assert session.scalar(select(func.count()).select_from(PatientEvent)) == 213


def test_import_sample_reports_invalid_emails_without_values(session):
    report = run(session)
    assert report["errors"] == [
        {"file": "contacts.csv", "row": row, "field": "email",
         "message": "not a valid email address"}
        for row in INVALID_EMAIL_ROWS
    ]
    assert "example.org" not in json.dumps(report)


def test_invalid_email_keeps_patient_unreachable(session):
    run(session)
    patient = find_by_cdp_id(session, "2216f688-b27d-dc7a-39b5-ba2cfefa6c37")
    assert load_profile(session, patient.id)["email"] is None
    assert facets_for(session, patient.id)["email_usable"] is False


def test_duplicate_contact_merged_into_one_patient(session):
    run(session)
    patient = find_by_cdp_id(session, "cc5fdb8d-297d-0e33-9c5a-6206c223b79b")
    profile = load_profile(session, patient.id)
    assert profile["email"] == "joesph.leannon3@example.org"
    assert profile["traits"]["portal_last_login"] == "2023-08-14"


def test_reimport_reports_unchanged_and_adds_no_events(session):
    run(session)
    again = run(session)
    assert again["unchanged"] == 111
    assert (again["inserted"], again["updated"], again["events"]) == (0, 0, 0)
    assert session.scalar(select(func.count()).select_from(PatientEvent)) == 213


def test_reimport_never_lifts_suppression(session):
    run(session)
    suppress(session, "LORINE.HAYES2@example.org", "unsubscribed")
    run(session)
    patient = find_by_cdp_id(session, "63873e89-efbe-2cfc-9a1b-2d297a37aed6")
    assert is_suppressed(session, "lorine.hayes2@example.org")
    assert facets_for(session, patient.id)["suppressed"] is True


def test_changed_contact_updates_only_that_patient(session, tmp_path):
    run(session)
    text = CONTACTS.read_text(encoding="utf-8").replace(
        "lorine.hayes2@example.org,yes", "lorine.hayes2@example.org,no"
    )
    changed = tmp_path / "contacts.csv"
    changed.write_text(text, encoding="utf-8")
    report = run(session, [SYNTHEA, changed, EVENTS])
    assert (report["updated"], report["unchanged"]) == (1, 110)
    patient = find_by_cdp_id(session, "63873e89-efbe-2cfc-9a1b-2d297a37aed6")
    assert facets_for(session, patient.id)["email_opt_in"] == "no"


def test_contacts_alone_keep_synthea_fields(session):
    run(session)
    report = run(session, [CONTACTS])
    assert report["updated"] == 111
    patient = find_by_cdp_id(session, "63873e89-efbe-2cfc-9a1b-2d297a37aed6")
    assert load_profile(session, patient.id)["last_name"] == "Hayes"
    assert facets_for(session, patient.id)["last_visit"] == date(2023, 10, 1)


def test_facets_of_a_known_patient(session):
    run(session)
    patient = find_by_cdp_id(session, "eae4c6a5-46e2-a8ce-883a-54f43839f4bf")
    facets = facets_for(session, patient.id)
    assert facets["birth_date"] == date(1936, 11, 19)
    assert (facets["sex"], facets["state"], facets["state_code"]) == ("F", "Nebraska", "NE")
    assert facets["zip3"] == "688"
    assert facets["risk_flags"] == ["prediabetes", "hypertension"]
    assert {c["group"] for c in facets["conditions"]} == {
        "heart_disease", "hypertension", "prediabetes"}
    assert facets["lifecycle_stage"] == "active_treatment"
    assert facets["last_visit"] == date(2023, 3, 24)
    assert facets["deceased"] is False


def test_smoking_status_current_sets_smoker_flag(session):
    run(session)
    smokers = [
        line.split(",")[0] for line in CONTACTS.read_text().splitlines()[1:]
        if line.split(",")[4] == "current"
    ]
    facets = facets_for(session, find_by_cdp_id(session, smokers[0]).id)
    assert "smoker" in facets["risk_flags"]


def test_never_stored_columns_are_absent(session):
    run(session)
    patient = find_by_cdp_id(session, "982192b6-6843-4011-ef46-32caaf87d8a9")
    profile = load_profile(session, patient.id)
    assert "999-49-3983" not in json.dumps(profile)
    assert set(profile) >= {"first_name", "birth_date", "email"}
    assert not {"ssn", "income", "lat", "lon"} & set(profile["traits"])


def test_database_file_holds_no_plaintext(session, app, database_url):
    if not database_url.startswith("sqlite"):
        pytest.skip("reads the SQLite file's bytes")
    run(session)
    session.commit()
    session.close()
    app.extensions["sendwell.engine"].dispose()
    db_path = Path(database_url.removeprefix("sqlite:///"))
    data = b"".join(p.read_bytes() for p in db_path.parent.glob(db_path.name + "*"))
    for needle in (b"Lorine", b"Hayes", b"lorine.hayes2", b"example.org", b"2010-01-17",
                   b"63873e89", b"Hansen Camp", b"Portal Login", b"Prediabetes"):
        assert needle not in data, needle


def test_missing_path_fails_and_writes_nothing(session, tmp_path):
    report = run(session, [SYNTHEA, tmp_path / "missing.csv"])
    assert report["status"] == "failed"
    assert report["errors"][0]["file"] == "missing.csv"
    assert session.scalar(select(func.count()).select_from(Patient)) == 0
    assert session.scalar(select(func.count()).select_from(ClinicalRecord)) == 0


def test_dry_run_counts_but_writes_nothing(session):
    report = run(session, dry_run=True)
    assert (report["status"], report["inserted"], report["events"]) == ("dry_run", 111, 213)
    assert session.scalar(select(func.count()).select_from(Patient)) == 0


def test_fhir_format_on_a_synthea_folder_fails_clearly(session):
    report = run(session, [SYNTHEA], fmt="fhir")
    assert report["status"] == "failed"
    assert "no <ResourceType>.ndjson files" in report["errors"][0]["message"]
    assert session.scalar(select(func.count()).select_from(Patient)) == 0


def test_import_waits_while_a_data_key_rotation_runs(session):
    from core.models import KeyRotation

    session.add(KeyRotation(data_from=1, data_to=2, index_from=1, index_to=2))
    session.flush()
    report = import_paths(session, [SAMPLE / "cdp-nebraska" / "contacts.csv"])
    assert report["status"] == "failed"
    assert "rotation is running" in report["errors"][0]["message"]
    assert session.scalar(select(func.count()).select_from(Patient)) == 0
