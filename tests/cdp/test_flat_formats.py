"""Flat profile files beyond plain CSV: JSON and NDJSON, encodings, values kept as text,
per-column date formats, mapping files, never-stored columns and size caps."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from cdp.service import import_paths
from patients.models import Patient
from patients.service import find_by_cdp_id, load_profile

DATA = Path(__file__).resolve().parent / "data"


def profile(session, cdp_id: str) -> dict:
    return load_profile(session, find_by_cdp_id(session, cdp_id).id)


def patients(session) -> int:
    return session.scalar(select(func.count()).select_from(Patient))


def test_json_array_profiles(session):
    report = import_paths(session, [DATA / "profiles.json"])
    assert (report["status"], report["inserted"]) == ("completed", 2)
    assert report["errors"] == [{"file": "profiles.json", "row": 2, "field": "prefs",
                                 "message": "nested values are not supported"}]
    first = profile(session, "J1")
    assert (first["email"], first["zip"], first["traits"]["tier"]) == (
        "json.one@example.org", "07030", "gold")
    assert profile(session, "J2")["traits"] == {"tier": "NA"}


def test_ndjson_profiles_skip_blank_lines(session):
    report = import_paths(session, [DATA / "profiles.ndjson"])
    assert (report["status"], report["inserted"], report["errors"]) == ("completed", 2, [])
    assert profile(session, "N2")["state"] == "Iowa"


def test_ndjson_profile_bad_line_fails_naming_it(session):
    report = import_paths(session, [DATA / "profiles-bad-line.ndjson"])
    assert report["status"] == "failed"
    assert (report["errors"][0]["row"], report["errors"][0]["message"]) == (
        2, "line 2 is not valid JSON")
    assert patients(session) == 0


def test_utf16_with_bom(session):
    report = import_paths(session, [DATA / "utf16-bom.csv"])
    assert (report["status"], report["inserted"]) == ("completed", 2)
    assert (profile(session, "U2")["first_name"], profile(session, "U2")["city"]) == (
        "Łukasz", "Łódź")


def test_tsv_utf8_without_bom(session):
    report = import_paths(session, [DATA / "utf8-no-bom.tsv"])
    assert report["inserted"] == 1
    assert profile(session, "T1")["first_name"] == "José"


def test_windows_1252_without_evidence_is_rejected(session):
    report = import_paths(session, [DATA / "latin-letters-only.csv"])
    assert report["status"] == "failed"
    assert report["errors"][0]["row"] == 2
    assert "line 2" in report["errors"][0]["message"]
    assert patients(session) == 0


def test_windows_1252_when_declared(session):
    report = import_paths(session, [DATA / "latin-letters-only.csv"], encoding="cp1252")
    assert (report["status"], report["inserted"]) == ("completed", 2)
    emails = {load_profile(session, pid)["email"]: load_profile(session, pid)
              for pid in session.scalars(select(Patient.id))}
    assert emails["nuria@example.org"]["city"] == "Logroño"


def test_replacement_character_is_rejected(session):
    report = import_paths(session, [DATA / "replacement-char.csv"])
    assert report["status"] == "failed"
    assert report["errors"][0]["row"] == 3
    assert patients(session) == 0


def test_leading_zeros_survive(session):
    import_paths(session, [DATA / "leading-zeros.csv"])
    first = profile(session, "000123")
    assert (first["cdp_id"], first["zip"]) == ("000123", "02134")
    assert first["traits"] == {"phone": "0049301234567", "record_number": "0000042"}
    assert profile(session, "000124")["zip"] == "00501"


def test_na_null_none_are_values(session):
    report = import_paths(session, [DATA / "na-values.csv"])
    assert report["errors"] == []
    first, second = profile(session, "P1"), profile(session, "P2")
    assert (first["last_name"], first["city"], first["traits"]) == (
        "Null", "NA", {"insurance_plan": "None"})
    assert (second["last_name"], second["city"], second["traits"]) == (
        "None", "N/A", {"insurance_plan": "NULL", "nickname": "nan"})


@pytest.mark.parametrize("name", ["long-ids.csv", "long-ids.json"])
def test_long_numeric_ids_keep_every_digit(session, name):
    import_paths(session, [DATA / name])
    found = profile(session, "12345678901234567890123")
    assert found["cdp_id"] == "12345678901234567890123"
    assert found["traits"]["account_number"] == "9007199254740993"


def test_json_numbers_keep_their_text(session):
    import_paths(session, [DATA / "long-ids.json"])
    traits = profile(session, "12345678901234567890123")["traits"]
    assert (traits["score"], traits["vip"]) == ("1.10", "true")
    assert "nickname" not in traits


def test_csv_decimal_text_kept(session):
    import_paths(session, [DATA / "long-ids.csv"])
    assert profile(session, "00000000000000000001")["traits"]["account_number"] == "1.10"


def test_day_first_dates_inferred_from_a_day_above_twelve(session):
    report = import_paths(session, [DATA / "dates-day-first.csv"])
    assert report["errors"] == []
    assert profile(session, "D1")["birth_date"] == "1980-04-03"
    assert profile(session, "D2")["birth_date"] == "1975-12-25"


def test_month_first_dates_inferred(session):
    import_paths(session, [DATA / "dates-month-first.csv"])
    assert profile(session, "M1")["birth_date"] == "1980-03-04"


def test_ambiguous_date_column_fails_naming_it(session):
    report = import_paths(session, [DATA / "dates-ambiguous.csv"])
    assert report["status"] == "failed"
    error = report["errors"][0]
    assert (error["file"], error["field"]) == ("dates-ambiguous.csv", "dob")
    assert "'dob'" in error["message"] and "date_formats" in error["message"]
    assert "1980" not in error["message"]
    assert patients(session) == 0


def test_mixed_date_formats_fail(session):
    report = import_paths(session, [DATA / "dates-mixed.csv"])
    assert (report["status"], report["errors"][0]["field"]) == ("failed", "dob")


def test_mapping_file_declares_columns_and_formats(session):
    report = import_paths(session, [DATA / "dates-mapped.csv"],
                          mapping=DATA / "dates-mapping.json")
    assert (report["status"], report["inserted"], report["errors"]) == ("completed", 2, [])
    first = profile(session, "Q1")
    assert (first["email"], first["birth_date"]) == ("q1@example.org", "1980-04-03")
    assert first["traits"] == {"last_visit_date": "2023-05-04"}
    assert profile(session, "Q2")["traits"] == {"last_visit_date": "2023-12-31"}


def test_bad_mapping_target_fails(session, tmp_path):
    mapping = tmp_path / "mapping.json"
    mapping.write_text(json.dumps({"columns": {"DOB": "dob_field"}}), encoding="utf-8")
    report = import_paths(session, [DATA / "dates-mapped.csv"], mapping=mapping)
    assert report["status"] == "failed"
    assert report["errors"][0]["field"] == "DOB"


def test_never_stored_columns_dropped_and_listed(session):
    report = import_paths(session, [DATA / "ignored-columns.csv"])
    assert report["ignored_columns"] == ["SSN", "Drivers License", "Passport", "Income"]
    stored = profile(session, "I1")
    assert stored["traits"] == {"favourite_colour": "teal"}
    assert "999-12-3456" not in json.dumps(stored)


def test_synthea_report_lists_ignored_columns(session):
    from tests.conftest import SAMPLE

    report = import_paths(session, [SAMPLE / "synthea-csv-nebraska"], dry_run=True)
    assert report["ignored_columns"] == [
        "SSN", "DRIVERS", "PASSPORT", "LAT", "LON", "HEALTHCARE_EXPENSES",
        "HEALTHCARE_COVERAGE", "INCOME"]


def test_file_size_cap(app, session):
    app.config["CDP_MAX_FILE_BYTES"] = 100
    report = import_paths(session, [DATA / "leading-zeros.csv"])
    assert report["status"] == "failed"
    assert "CDP_MAX_FILE_BYTES" in report["errors"][0]["message"]
    assert patients(session) == 0


@pytest.mark.parametrize("name", ["leading-zeros.csv", "profiles.ndjson", "profiles.json"])
def test_row_cap(app, session, name):
    app.config["CDP_MAX_ROWS"] = 1
    report = import_paths(session, [DATA / name])
    assert report["status"] == "failed"
    assert "CDP_MAX_ROWS" in report["errors"][0]["message"]


def test_row_cap_applies_to_fhir(app, session):
    app.config["CDP_MAX_ROWS"] = 5
    from tests.conftest import SAMPLE

    report = import_paths(session, [SAMPLE / "fhir-bulk-10"])
    assert report["status"] == "failed"
    assert report["errors"][0]["row"] == 6


def test_rows_with_the_wrong_number_of_fields_are_rejected_not_shifted(session):
    report = import_paths(session, [DATA / "row-widths.csv"])
    assert (report["status"], report["inserted"], report["rejected"]) == ("completed", 2, 2)
    assert [(e["row"], e["field"]) for e in report["errors"]] == [(2, "(row)"), (3, "(row)")]
    assert "6 fields but the header has 4" in report["errors"][0]["message"]
    assert find_by_cdp_id(session, "yes") is None  # no value shifted into the id column
    assert profile(session, "W4")["email_opt_in"] == "no"


def test_a_header_naming_a_column_twice_fails(session):
    report = import_paths(session, [DATA / "duplicate-header.csv"])
    assert report["status"] == "failed"
    assert "'Email' twice" in report["errors"][0]["message"]
    assert patients(session) == 0


def test_duplicate_rows_that_disagree_are_reported_and_the_opt_out_wins(session):
    report = import_paths(session, [DATA / "conflicting-duplicates.csv"])
    assert (report["status"], report["inserted"], report["merged"]) == ("completed", 2, 2)
    assert [(e["row"], e["field"]) for e in report["errors"]] == [
        (2, "email"), (2, "email_opt_in")]
    assert all("example.org" not in e["message"] for e in report["errors"])
    merged = profile(session, "C1")
    assert (merged["email"], merged["email_opt_in"]) == ("first@example.org", "no")
    assert profile(session, "C2")["email"] == "same@example.org"
