"""`flask segments create` refuses to replace silently; `members` only reads; `refresh`
recomputes, stores and audits with counts."""

from __future__ import annotations

import json
from datetime import date

import pytest
from sqlalchemy import func, select

from core.models import AuditEvent
from segments import service
from segments.models import Segment, SegmentChange, SegmentMember
from segments.signals import segment_in_use
from tests.factories import make_patient

WOMEN = {"field": "sex", "op": "eq", "value": "F"}
MEN = {"field": "sex", "op": "eq", "value": "M"}
HTN = {"field": "condition_group", "op": "includes", "value": "hypertension"}


@pytest.fixture
def rule_file(tmp_path):
    def write(content, name="rule.json") -> str:
        path = tmp_path / name
        path.write_text(json.dumps(content))
        return str(path)
    return write


def audit_rows(session) -> list[tuple[str, str, dict]]:
    session.expire_all()
    rows = session.execute(select(AuditEvent.action, AuditEvent.target, AuditEvent.details)
                           .order_by(AuditEvent.id))
    return [(action, target, json.loads(details)) for action, target, details in rows]


def stored_state(session) -> tuple:
    session.expire_all()
    members = session.scalars(select(SegmentMember.patient_id).order_by(
        SegmentMember.patient_id)).all()
    changes = session.scalar(select(func.count()).select_from(SegmentChange))
    computed = session.scalars(select(Segment.computed_at).order_by(Segment.name)).all()
    return members, changes, computed


# --- create -------------------------------------------------------------------------------


def test_create_refuses_an_existing_name(runner, session, rule_file):
    assert runner.invoke(args=["segments", "create", "women", "--rule", rule_file(WOMEN),
                               "--json"]).exit_code == 0
    result = runner.invoke(args=["segments", "create", " women ", "--rule", rule_file(MEN),
                                 "--json"])
    assert result.exit_code == 1
    assert json.loads(result.stdout) == {"error": "a segment named 'women' already exists; "
                                                  "pass --replace to replace its rule"}
    session.expire_all()
    assert service.get_segment(session, "women").rule == WOMEN
    assert [a for a, _t, _d in audit_rows(session)] == ["segments.create"]


def test_create_replace_swaps_the_rule_and_names_active_workflows(runner, session, rule_file):
    runner.invoke(args=["segments", "create", "htn", "--rule", rule_file(HTN)])
    asked = []

    def workflows(segment, session):
        asked.append(segment.name)
        return ["htn-drip", "bp-check"] if segment.name == "htn" else []

    with segment_in_use.connected_to(workflows):
        result = runner.invoke(args=["segments", "create", "htn", "--rule", rule_file(WOMEN),
                                     "--replace", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["rule"] == WOMEN
    assert asked == ["htn"]
    assert result.stderr == (
        "warning: replaced the rule of segment 'htn'; active workflows using it follow the "
        "new rule: bp-check, htn-drip; stored membership changes at the next refresh\n")
    segment = service.get_segment(session, "htn")
    assert [(a, t) for a, t, _d in audit_rows(session)] == [
        ("segments.create", segment.id), ("segments.replace", segment.id)]


def test_create_replace_says_when_no_workflow_uses_it(runner, session, rule_file):
    runner.invoke(args=["segments", "create", "htn", "--rule", rule_file(HTN)])
    with segment_in_use.connected_to(lambda segment, session: []):
        result = runner.invoke(args=["segments", "create", "htn", "--rule", rule_file(WOMEN),
                                     "--replace"])
    assert result.exit_code == 0, result.output
    assert "no active workflow uses it" in result.stderr


def test_create_replace_of_a_new_name_just_creates(runner, session, rule_file):
    result = runner.invoke(args=["segments", "create", "new", "--rule", rule_file(WOMEN),
                                 "--replace", "--json"])
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    assert [a for a, _t, _d in audit_rows(session)] == ["segments.create"]


# --- members and refresh ------------------------------------------------------------------


@pytest.fixture
def htn(session):
    """A segment refreshed as of 2023-12-31, whose member's condition abates in 2024."""
    stays = make_patient(session, conditions=["hypertension"]).id
    abates = make_patient(session, conditions=[
        {"group": "hypertension", "onset": "2020-01-01", "abated": "2024-06-01"}]).id
    segment = service.create_segment(session, "htn", HTN)
    service.refresh_membership(session, segment, date(2023, 12, 31))
    session.commit()
    return stays, abates


def test_members_lists_stored_membership_without_writing(runner, session, htn):
    before = stored_state(session)
    result = runner.invoke(args=["segments", "members", "htn", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"members": sorted(htn)}
    assert stored_state(session) == before
    assert "stored membership computed 2024-01-01T05:59:59Z" in result.stderr
    assert audit_rows(session)[-1][2] == {"members": 2, "source": "stored"}


def test_members_as_of_evaluates_without_writing(runner, session, htn):
    stays, _abates = htn
    newcomer = make_patient(session, conditions=["hypertension"]).id
    session.commit()
    before = stored_state(session)
    later = runner.invoke(args=["segments", "members", "htn", "--as-of", "2024-12-31",
                                "--json"])
    assert json.loads(later.stdout) == {"members": sorted([stays, newcomer])}
    assert stored_state(session) == before
    assert audit_rows(session)[-1][2] == {"members": 2, "source": "evaluated"}


def test_members_of_a_never_refreshed_segment_says_so(runner, session, rule_file):
    make_patient(session, sex="F")
    session.commit()
    runner.invoke(args=["segments", "create", "women", "--rule", rule_file(WOMEN)])
    result = runner.invoke(args=["segments", "members", "women", "--json"])
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {"members": []}
    assert "never refreshed" in result.stderr


def test_refresh_stores_changes_and_audits_counts(runner, session, htn):
    stays, abates = htn
    newcomer = make_patient(session, conditions=["hypertension"]).id
    session.commit()
    result = runner.invoke(args=["segments", "refresh", "htn", "--as-of", "2024-12-31",
                                 "--json"])
    assert result.exit_code == 0, result.output
    segment = service.get_segment(session, "htn")
    assert json.loads(result.stdout) == {"segments": [
        {"id": segment.id, "name": "htn", "members": 2, "entered": 1, "exited": 1}]}
    assert stored_state(session)[0] == sorted([stays, newcomer])
    assert abates not in stored_state(session)[0]
    assert audit_rows(session)[-1] == (
        "segments.refresh", segment.id, {"members": 2, "entered": 1, "exited": 1})


def test_refresh_without_name_recomputes_every_segment(runner, session, rule_file, htn):
    runner.invoke(args=["segments", "create", "women", "--rule", rule_file(WOMEN)])
    result = runner.invoke(args=["segments", "refresh", "--as-of", "2023-12-31", "--json"])
    assert result.exit_code == 0, result.output
    assert [(r["name"], r["members"], r["entered"]) for r in
            json.loads(result.stdout)["segments"]] == [("htn", 2, 0), ("women", 2, 2)]
    refreshes = [a for a, _t, _d in audit_rows(session) if a == "segments.refresh"]
    assert len(refreshes) == 2


def test_refresh_of_unknown_segment_is_one_json_error(runner, session):
    result = runner.invoke(args=["segments", "refresh", "nope", "--json"])
    assert result.exit_code == 1
    assert json.loads(result.stdout) == {"error": "no segment with that name"}
