"""Real-world flat-file faults (tests/cases B01, B02, B04, B05, B07, B27)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from cdp.service import import_paths
from patients.consent import is_suppressed
from patients.models import Patient
from patients.service import load_profile
from tests.conftest import CASES


def profiles(session) -> list[dict]:
    ids = session.scalars(select(Patient.id))
    return sorted((load_profile(session, pid) for pid in ids), key=lambda p: p["email"] or "")


def test_bom_header_maps_normally(session):
    report = import_paths(session, [CASES / "B01-utf8-bom-header.csv"])
    assert (report["inserted"], report["errors"]) == (2, [])
    found = profiles(session)
    assert [p["email"] for p in found] == ["ana.lopez@example.com", "bo.chen@example.org"]
    assert "\ufeff" not in json.dumps(found, ensure_ascii=False)


def test_semicolon_delimiter_detected(session):
    report = import_paths(session, [CASES / "B02-excel-semicolon.csv"])
    assert report["inserted"] == 2
    assert profiles(session)[1]["city"] == "Bonn, Beuel"


def test_no_identity_column_fails_naming_the_header(session, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("name:city\nAna:Bonn\n", encoding="utf-8")
    report = import_paths(session, [bad])
    assert report["status"] == "failed"
    assert "name:city" in report["errors"][0]["message"]


def test_windows_1252_detected_by_its_punctuation(session):
    report = import_paths(session, [CASES / "B03-windows-1252.csv"])
    assert (report["status"], report["inserted"], report["errors"]) == ("completed", 3, [])
    found = {p["email"]: p for p in profiles(session)}
    assert found["siobhan.oneill@example.net"]["last_name"] == "O\u2019Neill"
    assert found["rene.dubois@example.com"]["first_name"] == "Ren\u00e9"
    assert found["nuria.pena@example.org"]["city"] == "Logro\u00f1o"
    text = json.dumps(list(found.values()), ensure_ascii=False)
    assert "\ufffd" not in text and "\u0092" not in text and "Ã" not in text


def test_email_case_duplicates_merge(session):
    report = import_paths(session, [CASES / "B04-email-case-duplicates.csv"])
    assert (report["patients_seen"], report["inserted"], report["merged"]) == (2, 2, 1)


def test_unicode_whitespace_trimmed(session):
    report = import_paths(session, [CASES / "B05-whitespace.csv"])
    assert (report["inserted"], report["rejected"], report["errors"]) == (2, 0, [])
    found = profiles(session)
    assert [(p["email"], p["first_name"], p["last_name"]) for p in found] == [
        ("lena.fischer@example.com", "Lena", "Fischer"),
        ("omar.haddad@example.org", "Omar", "Haddad"),
    ]


def test_quoted_newline_stays_in_value(session):
    report = import_paths(session, [CASES / "B07-quoted-newline.csv"])
    assert report["inserted"] == 2
    found = profiles(session)
    assert found[0]["address"] == "12 Elm Street\nApt 4B"
    assert found[1]["address"] == 'Flat 2, "The Mews"\nHighgate'


@pytest.mark.parametrize("email", ["Grace.Ho@Example.com", "ivan.petrov@example.org"])
def test_reimport_never_resubscribes(session, email):
    import_paths(session, [CASES / "B27-existing-contacts.csv"])
    report = import_paths(session, [CASES / "B27-reimport.csv"])
    assert report["status"] == "completed"
    assert is_suppressed(session, email)
    assert not is_suppressed(session, "nia.brooks@example.net")
