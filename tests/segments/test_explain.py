"""`flask segments explain NAME CDP_ID`: each leaf's result and facts, the population rule,
agreement with membership, audit without PHI; `describe --rule` (and the old alias)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from core.models import AuditEvent
from segments import service
from segments.explain import explain_patient
from tests.factories import make_event, make_patient

RULE = {"all": [
    {"field": "condition_group", "op": "includes", "value": "hypertension"},
    {"any": [
        {"field": "age", "op": "gte", "value": 40},
        {"not": {"field": "sex", "op": "eq", "value": "M"}},
    ]},
    {"event": "Appointment Missed", "op": "count_at_least", "value": 1, "within_days": 30},
]}


@pytest.fixture
def segment(session):
    seg = service.create_segment(session, "htn-missed", RULE)
    session.commit()
    return seg


@pytest.fixture
def zelda(session):
    patient = make_patient(session, cdp_id="CDP-ZELDA", first_name="Zelda",
                           email="zelda@example.org", sex="F", birth_date="1990-03-04",
                           conditions=["hypertension", "prediabetes"])
    make_event(session, patient, "Appointment Missed", "2023-12-20T15:00:00Z")
    make_event(session, patient, "Appointment Missed", "2023-10-01T15:00:00Z")
    session.commit()
    return patient


def explain(runner, *args):
    return runner.invoke(args=["segments", "explain", *args, "--as-of", "2023-12-31",
                               "--json"])


def test_explain_gives_each_leaf_with_its_facts(runner, session, segment, zelda):
    result = explain(runner, "htn-missed", "CDP-ZELDA")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "segment": "htn-missed", "patient_id": zelda.id, "as_of": "2023-12-31",
        "result": True, "rule_result": True, "excluded": None, "stored_member": False,
        "leaves": [
            {"path": "$.all[0]", "leaf": "condition_group includes hypertension",
             "summary": "active condition group includes hypertension", "result": True,
             "facts": {"active_groups": ["hypertension", "prediabetes"]}},
            {"path": "$.all[1].any[0]", "leaf": "age gte 40", "summary": "age is at least 40",
             "result": False, "facts": {"age": 33}},
            {"path": "$.all[1].any[1].not", "leaf": "sex eq M", "summary": "sex is M",
             "result": False, "facts": {"sex": "F"}},
            {"path": "$.all[2]",
             "leaf": "event Appointment Missed count_at_least 1 within_days 30",
             "summary": "performed “Appointment Missed” at least 1 time in the last 30 days",
             "result": True, "facts": {"matching_events": 1, "window_from": "2023-12-02",
                                       "window_to": "2023-12-31"}},
        ],
    }


def test_explain_output_and_audit_carry_no_phi(runner, session, segment, zelda):
    result = explain(runner, "htn-missed", "CDP-ZELDA")
    for secret in ("CDP-ZELDA", "Zelda", "zelda@example.org", "1990-03-04"):
        assert secret not in result.stdout
    session.expire_all()
    event = session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
    assert (event.action, event.target) == ("segments.explain", zelda.id)
    assert json.loads(event.details) == {"segment": segment.id, "result": True}


def test_explain_reports_the_population_rule_for_the_deceased(runner, session, segment):
    patient = make_patient(session, cdp_id="CDP-GONE", deceased=True,
                           conditions=["hypertension"])
    make_event(session, patient, "Appointment Missed", "2023-12-20T15:00:00Z")
    session.commit()
    body = json.loads(explain(runner, "htn-missed", "CDP-GONE").stdout)
    assert (body["result"], body["rule_result"], body["excluded"]) == (False, True, "deceased")
    assert [leaf["result"] for leaf in body["leaves"]] == [True, True, False, True]


def test_explain_says_why_a_patient_is_not_in(runner, session, segment):
    make_patient(session, cdp_id="CDP-MAN", sex="M", birth_date="2000-01-01",
                 conditions=[{"group": "hypertension", "onset": "2020-01-01",
                              "abated": "2023-06-01"}])
    session.commit()
    body = json.loads(explain(runner, "htn-missed", "CDP-MAN").stdout)
    assert body["result"] is False and body["excluded"] is None
    assert [(leaf["result"], leaf["facts"]) for leaf in body["leaves"]] == [
        (False, {"active_groups": []}), (False, {"age": 23}), (True, {"sex": "M"}),
        (False, {"matching_events": 0, "window_from": "2023-12-02",
                 "window_to": "2023-12-31"}),
    ]


def test_explain_agrees_with_membership_for_every_patient(session, segment):
    """Whatever the data, the explanation's verdict is the evaluator's."""
    patients = [
        make_patient(session, sex=sex, birth_date=born, conditions=conditions,
                     deceased=deceased)
        for sex in ("F", "M") for born in ("1950-01-01", "2010-01-01")
        for conditions in ([], ["hypertension"]) for deceased in (False, True)
    ]
    for patient in patients[::3]:
        make_event(session, patient, "Appointment Missed", "2023-12-30T12:00:00Z")
    session.commit()
    members = set(service.evaluate_members(session, segment, "2023-12-31"))
    assert members  # the table above has members and non-members
    for patient in patients:
        verdict = explain_patient(session, segment, patient.id, "2023-12-31")["result"]
        assert verdict is (patient.id in members)


@pytest.mark.parametrize(("field_rule", "facts"), [
    ({"field": "risk_flag", "op": "includes", "value": "smoker"}, {"risk_flags": ["smoker"]}),
    ({"field": "state", "op": "eq", "value": "NE"},
     {"state": "Nebraska", "state_code": "NE"}),
    ({"field": "reachable", "op": "eq", "value": True},
     {"reachable": False, "skip_reason": "opted_out"}),
    ({"field": "last_visit", "op": "within_last", "value": {"months": 6}},
     {"last_visit": "2023-11-02"}),
    ({"trait": "plan", "op": "eq", "value": "gold"}, {"value": "gold"}),
    ({"segment": "women"}, {"segment": "women"}),
])
def test_explain_facts_of_each_leaf_kind(session, field_rule, facts):
    patient = make_patient(session, risk_flags=["smoker"], email_opt_in="no",
                           last_visit="2023-11-02", traits={"plan": "gold"})
    service.create_segment(session, "women", {"field": "sex", "op": "eq", "value": "F"})
    segment = service.create_segment(session, "probe", field_rule)
    session.commit()
    leaf = explain_patient(session, segment, patient.id, "2023-12-31")["leaves"][0]
    assert leaf["facts"] == facts


def test_explain_unknown_patient_is_one_json_error(runner, session, segment):
    result = explain(runner, "htn-missed", "CDP-NOBODY")
    assert result.exit_code == 1
    assert json.loads(result.stdout) == {"error": "no patient with that CDP id"}
    assert "CDP-NOBODY" not in result.output


def test_explain_unknown_segment_is_one_json_error(runner, session, zelda):
    result = explain(runner, "nope", "CDP-ZELDA")
    assert result.exit_code == 1
    assert json.loads(result.stdout) == {"error": "no segment with that name"}


@pytest.mark.parametrize("args", [
    ["segments", "explain", "htn-missed"],
    ["segments", "explain"],
    ["segments", "explain", "htn-missed", "CDP-ZELDA", "--rule", "RULE"],
    ["segments", "describe"],
])
def test_explain_wrong_usage_exits_2(runner, tmp_path, args):
    path = tmp_path / "rule.json"
    path.write_text(json.dumps(RULE))
    args = [str(path) if a == "RULE" else a for a in args]
    assert runner.invoke(args=args).exit_code == 2


def test_explain_text_output_lists_the_leaves(runner, session, segment, zelda):
    result = runner.invoke(args=["segments", "explain", "htn-missed", "CDP-ZELDA",
                                 "--as-of", "2023-12-31"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "IN segment htn-missed as of 2023-12-31"
    assert lines[1] == ('  [yes] $.all[0]: condition_group includes hypertension  '
                        '(active_groups=["hypertension", "prediabetes"])')
    assert len(lines) == 5


@pytest.mark.parametrize("command", ["describe", "explain"])
def test_describe_summarises_a_rule(runner, tmp_path, command):
    path = tmp_path / "rule.json"
    path.write_text(json.dumps({"field": "sex", "op": "eq", "value": "F"}))
    result = runner.invoke(args=["segments", command, "--rule", str(path), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"rule": {"field": "sex", "op": "eq", "value": "F"},
                                         "summary": "sex is F"}
