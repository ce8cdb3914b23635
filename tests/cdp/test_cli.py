"""`flask import-cdp`: one JSON object on stdout, exit status, commit on success only."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import func, select

from core.models import AuditEvent
from patients.models import Patient
from tests.conftest import SAMPLE

CONTACTS = str(SAMPLE / "cdp-nebraska" / "contacts.csv")
DATA = Path(__file__).resolve().parent / "data"


def test_import_cdp_json_prints_one_object(runner, session):
    result = runner.invoke(args=["import-cdp", CONTACTS, "--json", "--as-of", "2023-12-31"])
    assert result.exit_code == 0
    report = json.loads(result.stdout)
    assert (report["status"], report["patients_seen"], report["merged"]) == ("completed", 111, 1)
    assert session.scalar(select(func.count()).select_from(Patient)) == 111
    audit = session.scalars(select(AuditEvent)).all()
    assert [a.action for a in audit] == ["cdp.import"]


def test_import_cdp_missing_file_exits_1(runner, session, tmp_path):
    result = runner.invoke(args=["import-cdp", CONTACTS, str(tmp_path / "gone.csv"), "--json"])
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["status"] == "failed"
    assert report["errors"][0]["file"] == "gone.csv"
    assert session.scalar(select(func.count()).select_from(Patient)) == 0


def test_import_cdp_dry_run_writes_nothing(runner, session):
    result = runner.invoke(args=["import-cdp", CONTACTS, "--dry-run", "--json"])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["status"] == "dry_run"
    assert session.scalar(select(func.count()).select_from(Patient)) == 0


def test_import_cdp_fhir_folder_with_ignored_columns(runner, session):
    fhir = str(SAMPLE / "fhir-bulk-10")
    result = runner.invoke(args=["import-cdp", fhir, "--format", "fhir", "--json",
                                 "--as-of", "2023-12-31"])
    assert result.exit_code == 0
    report = json.loads(result.stdout)
    assert (report["status"], report["inserted"]) == ("completed", 13)
    assert "Patient.identifier (SSN)" in report["ignored_columns"]
    assert session.scalar(select(func.count()).select_from(Patient)) == 13


def test_import_cdp_mapping_and_encoding_options(runner, session):
    result = runner.invoke(args=["import-cdp", str(DATA / "dates-mapped.csv"), "--mapping",
                                 str(DATA / "dates-mapping.json"), "--encoding", "utf-8",
                                 "--json"])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["inserted"] == 2


def test_import_cdp_unknown_encoding_exits_1(runner, session):
    result = runner.invoke(args=["import-cdp", CONTACTS, "--encoding", "ebcdic", "--json"])
    assert result.exit_code == 1
    assert "not supported" in json.loads(result.stdout)["errors"][0]["message"]
