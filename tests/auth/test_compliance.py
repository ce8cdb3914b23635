"""The compliance audit page: search, pagination, chain status, CSV export."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import select, update

from auth.audit_search import defuse
from auth.models import Role
from core import audit
from core.models import AuditEvent
from tests.web import allow_test_sign_in, sign_in_as


@pytest.fixture
def staff(app, monkeypatch, session):
    """`staff(role)` -> a test client signed in with that role."""
    allow_test_sign_in(app, monkeypatch)

    def signed_in(role: Role):
        client = app.test_client()
        sign_in_as(client, session, role)
        return client
    return signed_in


def add_events(session, *events: tuple[str, str, str]) -> None:
    for actor, action, target in events:
        audit.record(session, actor, action, target)
    session.commit()


def table_rows(html: str) -> int:
    return html.count("<tr><td>")


@pytest.mark.parametrize("role", [Role.ADMIN, Role.COMPLIANCE])
def test_admin_and_compliance_can_open_the_trail(staff, role):
    page = staff(role).get("/compliance/audit")
    assert page.status_code == 200
    assert "Chain verified" in page.get_data(as_text=True)


@pytest.mark.parametrize("role", [Role.MARKETER, Role.MANAGER])
@pytest.mark.parametrize("path", ["/compliance/audit", "/compliance/audit.csv"])
def test_marketer_and_manager_get_403(staff, role, path, session):
    assert staff(role).get(path).status_code == 403
    assert session.scalars(select(AuditEvent).where(
        AuditEvent.action == "audit.exported")).all() == []


def test_anonymous_is_sent_to_sign_in(client):
    response = client.get("/compliance/audit")
    assert (response.status_code, response.headers["Location"]) == (302, "/auth/login")


def test_search_by_action_prefix_and_actor(staff, session):
    add_events(session, ("ops@example.org", "segment.run", "s1"),
               ("ops@example.org", "campaign.launch", "c1"),
               ("lead@example.org", "segment.saved", "s2"))
    client = staff(Role.COMPLIANCE)
    html = client.get("/compliance/audit?action=segment.").get_data(as_text=True)
    assert table_rows(html) == 2 and "2 matching events" in html
    html = client.get("/compliance/audit?action=segment.&actor=ops@").get_data(as_text=True)
    assert table_rows(html) == 1 and "segment.run" in html and "segment.saved" not in html
    html = client.get("/compliance/audit?action=%25").get_data(as_text=True)  # no wildcards
    assert "0 matching events" in html


def test_search_by_date_range_in_the_organisation_zone(staff, session):
    add_events(session, ("a", "x.early", ""), ("a", "x.late", ""))
    # 2024-03-01 05:30 UTC is still 29 February in Chicago (UTC-6)
    session.execute(update(AuditEvent).where(AuditEvent.action == "x.early").values(
        at=datetime(2024, 3, 1, 5, 30, tzinfo=UTC)))
    session.execute(update(AuditEvent).where(AuditEvent.action == "x.late").values(
        at=datetime(2024, 3, 1, 6, 30, tzinfo=UTC)))
    session.commit()
    client = staff(Role.ADMIN)
    html = client.get("/compliance/audit?action=x.&from=2024-03-01&to=2024-03-01"
                      ).get_data(as_text=True)
    assert "x.late" in html and "x.early" not in html
    html = client.get("/compliance/audit?action=x.&to=2024-02-29").get_data(as_text=True)
    assert "x.early" in html and "x.late" not in html


def test_malformed_date_is_refused_plainly(staff):
    page = staff(Role.ADMIN).get("/compliance/audit?from=yesterday")
    assert page.status_code == 400
    assert "dates must be written YYYY-MM-DD" in page.get_data(as_text=True)


def test_results_are_paginated_newest_first(staff, session):
    add_events(session, *[("bulk", f"bulk.e{n:03d}", "") for n in range(60)])
    client = staff(Role.ADMIN)
    first = client.get("/compliance/audit?action=bulk.").get_data(as_text=True)
    assert table_rows(first) == 50 and "page 1 of 2" in first
    assert first.index("bulk.e059") < first.index("bulk.e010")
    assert "bulk.e009" not in first and 'page=2' in first
    second = client.get("/compliance/audit?action=bulk.&page=2").get_data(as_text=True)
    assert table_rows(second) == 10 and "bulk.e000" in second


def test_page_shows_a_broken_chain(staff, session):
    add_events(session, ("a", "x.one", ""), ("a", "x.two", ""))
    session.execute(update(AuditEvent).where(AuditEvent.action == "x.one").values(
        target="edited"))
    session.commit()
    html = staff(Role.COMPLIANCE).get("/compliance/audit").get_data(as_text=True)
    broken = session.scalars(select(AuditEvent.id).where(AuditEvent.action == "x.one")).one()
    assert f"Chain broken at event {broken}" in html


def test_csv_export_defuses_formulas_and_is_audited(staff, session):
    add_events(session, ("=HYPERLINK(\"http://evil\")", "x.formula", "+1"),
               ("@SUM(A1)", "x.formula", "-2"), ("plain", "x.formula", "ok"))
    client = staff(Role.COMPLIANCE)
    response = client.get("/compliance/audit.csv?action=x.")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="audit-')
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0] == ["id", "at", "actor", "action", "target", "details", "hash"]
    assert [(r[2], r[4]) for r in rows[1:]] == [
        ("'=HYPERLINK(\"http://evil\")", "'+1"), ("'@SUM(A1)", "'-2"), ("plain", "ok")]
    exported = session.scalars(select(AuditEvent).where(
        AuditEvent.action == "audit.exported")).one()
    assert exported.actor == "compliance@staff.example.org"
    assert json.loads(exported.details) == {
        "rows": 3, "filters": {"action": "x.", "actor": "", "from": "", "to": ""}}
    assert audit.verify(session)[0] is True


@pytest.mark.parametrize("cell, expected", [
    ("=1+1", "'=1+1"), ("+1", "'+1"), ("-1", "'-1"), ("@x", "'@x"), ("\tx", "'\tx"),
    ("\rx", "'\rx"), ("a=b", "a=b"), ("", ""), ("2024-01-01", "2024-01-01"),
])
def test_defuse(cell, expected):
    assert defuse(cell) == expected
