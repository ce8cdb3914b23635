"""FHIR edge cases from small files: identifiers, email, deceasedBoolean, care plans,
smoking-status observations, allergies, reasons, bad values reported with their element."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from cdp.service import import_paths
from patients.service import facets_for, find_by_cdp_id, load_clinical, load_profile

EXTRA = Path(__file__).resolve().parent / "data" / "fhir-extra"


@pytest.fixture
def report(session):
    return import_paths(session, [EXTRA], as_of=date(2023, 12, 31))


def test_extra_export_completes_with_located_errors(report):
    assert (report["status"], report["patients_seen"], report["inserted"]) == (
        "completed", 2, 2)
    assert [(e["file"], e["row"], e["field"]) for e in report["errors"]] == [
        ("Condition.000.ndjson", 4, "onsetDateTime"),
        ("Patient.000.ndjson", 2, "telecom.email"),
        ("Patient.000.ndjson", 2, "birthDate"),
        ("Condition.000.ndjson", 5, "subject"),
    ]
    assert report["ignored_columns"] == ["Patient.identifier (SSN)"]


def test_mrn_is_the_cdp_id_and_profile_is_mapped(session, report):
    patient = find_by_cdp_id(session, "0004711")
    profile = load_profile(session, patient.id)
    assert profile["email"] == "ada.okafor@example.org"
    assert (profile["address"], profile["zip"], profile["language"]) == (
        "1 Elm St, Apt 2", "06810", "es")
    assert profile["traits"] == {"race": "Black or African American", "birth_sex": "F",
                                 "smoking_status": "current"}


def test_facets_from_clinical_resources(session, report):
    facets = facets_for(session, find_by_cdp_id(session, "0004711").id)
    assert [(c["group"], c["abated"]) for c in facets["conditions"]] == [
        ("diabetes", None), ("hypertension", "2020-01-10")]
    assert facets["risk_flags"] == ["smoker", "diabetes"]
    assert facets["last_visit"] == date(2023, 12, 1)
    assert facets["lifecycle_stage"] == "follow_up"
    assert (facets["email_usable"], facets["state_code"], facets["zip3"]) == (True, "NE", "068")


def test_clinical_records_keep_codes_reasons_and_status(session, report):
    clinical = load_clinical(session, find_by_cdp_id(session, "0004711").id)
    assert [m["reason_code"] for m in clinical["medications"]] == ["44054006", ""]
    stopped = clinical["medications"][1]
    assert (stopped["status"], stopped["stop"]) == ("stopped", stopped["start"])
    assert [e["class"] for e in clinical["encounters"]] == [
        "ambulatory", "urgentcare", "ambulatory"]
    assert clinical["careplans"][0]["code"] == "698360004"
    assert clinical["careplans"][0]["reason_code"] == "44054006"
    assert [i["code"] for i in clinical["immunizations"]] == ["140"]
    assert clinical["allergies"][0]["description"] == "Peanut allergy"


def test_deceased_boolean_and_invalid_email_keep_patient(session, report):
    patient = find_by_cdp_id(session, "res-2")
    facets = facets_for(session, patient.id)
    assert (facets["deceased"], facets["sex"], facets["lifecycle_stage"]) == (
        True, "other", None)
    assert (facets["email_usable"], facets["birth_date"], facets["state"]) == (
        False, None, "Iowa")
    assert load_profile(session, patient.id)["email"] is None
