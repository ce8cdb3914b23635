"""Hostile rules: every `segments` command with `--json` still prints exactly one JSON
object (`{"error": ...}`, exit 1) instead of crashing on deep nesting, huge or non-finite
numbers, or dates outside the calendar."""

from __future__ import annotations

import json

import pytest

from auth.models import Role
from segments.rules import MAX_DEPTH, MAX_REFERENCE_DEPTH, RuleError, validate_rule
from segments.service import create_segment
from tests.factories import make_patient
from tests.segments.web import add_test_routes, csrf_token, signed_in

LEAF = '{"field": "sex", "op": "eq", "value": "F"}'


def nested_not(depth: int) -> str:
    return '{"not": ' * depth + LEAF + "}" * depth


def nested_all(depth: int) -> dict:
    rule: dict = json.loads(LEAF)
    for _ in range(depth):
        rule = {"all": [rule]}
    return rule


def event(**extra) -> dict:
    return {"event": "Portal Login", "op": "count_at_least", "value": 1, **extra}


HOSTILE = [
    (nested_not(1200), "nested too deeply"),
    (nested_not(MAX_DEPTH + 1), f"nested more than {MAX_DEPTH} levels"),
    (event(within_days=99999999999), "$.within_days: must be a whole number from 1 to 36500"),
    (event(within_days=1000000), "$.within_days: must be a whole number from 1 to 36500"),
    (event(value=10**30), "$.value: must be a whole number from 0 to 1000000"),
    ({"field": "last_visit", "op": "within_last", "value": {"days": 10**12}},
     "$.value.days: must be a whole number from 0 to 36500"),
    ({"field": "last_visit", "op": "more_than_ago", "value": {"months": 36500}},
     "$.value.months: must be a whole number from 0 to 1200"),
    ({"field": "last_visit", "op": "before", "value": {"weeks": 10**6}},
     "$.value.weeks: must be a whole number from 0 to 5200"),
    ('{"field": "age", "op": "gt", "value": NaN}', "$.value: must be a finite number"),
    ('{"field": "age", "op": "lt", "value": 1e309}', "$.value: must be a finite number"),
    ('{"field": "age", "op": "gt", "value": -Infinity}', "$.value: must be a finite number"),
    ({"field": "age", "op": "gt", "value": 151}, "$.value: age is 0 to 150"),
    ({"field": "age", "op": "between", "value": [-5, 40]}, "$.value[0]: age is 0 to 150"),
    ({"field": "age", "op": "in", "value": [30, 1000]}, "$.value[1]: age is 0 to 150"),
    ('{"trait": "score", "op": "gt", "value": NaN}', "$.value: must be a finite number"),
    ({"trait": "score", "op": "gt", "value": 10**20}, "$.value: must be a number from"),
    ({"trait": "score", "op": "eq", "value": 1e300}, "$.value: must be a number from"),
    ('{"trait": "score", "op": "between", "value": [0, Infinity]}',
     "$.value[1]: must be a finite number"),
    (event(where=[{"property": "n", "op": "lt", "value": float("nan")}]),
     "$.where[0].value: must be a finite number"),
    ({"field": "last_visit", "op": "before", "value": "0001-01-01"},
     "$.value: dates run from 1800-01-01 to 2200-12-31"),
    ({"trait": "seen", "op": "between", "value": ["2020-01-01", "9999-12-31"]},
     "$.value[1]: dates run from 1800-01-01 to 2200-12-31"),
    ("9" * 5000, "not valid JSON"),
]


@pytest.fixture
def rule_file(tmp_path):
    def write(content) -> str:
        path = tmp_path / "rule.json"
        text = content if isinstance(content, str) else json.dumps(content)
        path.write_text(text)
        return str(path)
    return write


def one_json_object(output: str) -> dict:
    """The whole of stdout is one JSON object (strict: no NaN or Infinity)."""
    def refuse(constant):
        raise AssertionError(f"non-standard JSON constant {constant}")

    value = json.loads(output, parse_constant=refuse)
    assert isinstance(value, dict)
    return value


COMMANDS = [["count", "--as-of", "2023-12-31"], ["describe"], ["explain"], ["create", "x"]]


@pytest.fixture
def web(app, monkeypatch, client, session):
    """A marketer signed in, with a CSRF token for the builder's API and form."""
    add_test_routes(app, monkeypatch)
    signed_in(client, session, Role.MARKETER)
    return client, csrf_token(client, "/segments/new")


@pytest.mark.parametrize(("content", "fragment"), HOSTILE)
def test_hostile_rule_is_refused_by_every_entry_point(runner, session, rule_file, web,
                                                      content, fragment):
    """Each CLI command prints one JSON error; the count API answers 400 with one JSON
    object; the builder form answers a 400 page."""
    make_patient(session)
    session.commit()
    path = rule_file(content)
    for name, *extra in COMMANDS:
        result = runner.invoke(args=["segments", name, *extra, "--rule", path, "--json"])
        assert result.exit_code == 1, (name, result.output, result.exception)
        assert fragment in one_json_object(result.stdout)["error"], name
    client, token = web
    text = content if isinstance(content, str) else json.dumps(content)
    response = client.post("/segments/api/count", content_type="application/json",
                           data='{"as_of": "2023-12-31", "rule": ' + text + "}",
                           headers={"X-CSRFToken": token})
    assert response.status_code == 400
    error = one_json_object(response.get_data(as_text=True))["error"]
    if "not valid JSON" not in fragment:  # the API answers an unreadable body generically
        assert fragment in error
    page = client.post("/segments/new", data={"csrf_token": token, "name": "x", "rule": text})
    assert page.status_code == 400
    assert 'class="flash flash-error"' in page.get_data(as_text=True)


def test_depth_error_names_the_path():
    with pytest.raises(RuleError) as caught:
        validate_rule(nested_all(MAX_DEPTH + 1))
    path = "$" + ".all[0]" * (MAX_DEPTH + 1)
    assert str(caught.value) == f"{path}: rule is nested more than {MAX_DEPTH} levels deep"


def test_rules_at_the_limits_are_accepted_and_evaluated(runner, session, rule_file):
    make_patient(session, sex="F", birth_date="1900-01-01")
    session.commit()
    rule = {"all": [
        nested_all(MAX_DEPTH - 1),
        {"field": "age", "op": "between", "value": [0, 150]},
        {"field": "last_visit", "op": "is_empty"},
        {"not": {"field": "last_visit", "op": "within_last", "value": {"months": 1200}}},
        {"not": {"field": "last_visit", "op": "within_last", "value": {"weeks": 5200}}},
        {"event": "Portal Login", "op": "count_at_most", "value": 1000000,
         "within_days": 36500},
    ]}
    result = runner.invoke(args=["segments", "count", "--rule", rule_file(rule),
                                 "--as-of", "2023-12-31", "--json"])
    assert result.exit_code == 0, result.output
    assert one_json_object(result.stdout) == {"count": 1, "reachable": 1}


@pytest.mark.parametrize("as_of", ["0001-01-01", "9999-12-31"])
def test_as_of_outside_the_supported_years_is_reported(runner, session, rule_file, as_of):
    rule = {"field": "last_visit", "op": "within_last", "value": {"months": 1200}}
    result = runner.invoke(args=["segments", "count", "--rule", rule_file(rule),
                                 "--as-of", as_of, "--json"])
    assert result.exit_code == 1, (result.output, result.exception)
    assert one_json_object(result.stdout) == {
        "error": "as_of: must be a date from 1900-01-01 to 2199-12-31"}


def deep_reference(name: str) -> dict:
    rule: dict = {"segment": name}
    for _ in range(MAX_DEPTH - 1):
        rule = {"all": [rule]}
    return rule


def test_a_chain_of_segment_references_is_bounded(runner, session, rule_file):
    """Every rule of the chain is as deep as allowed, and evaluation still fits the stack."""
    make_patient(session, sex="F")
    create_segment(session, "s0", nested_all(MAX_DEPTH - 1))
    for n in range(1, MAX_REFERENCE_DEPTH + 1):
        create_segment(session, f"s{n}", deep_reference(f"s{n - 1}"))
    session.commit()
    deep = {"all": [{"segment": f"s{MAX_REFERENCE_DEPTH}"}]}
    result = runner.invoke(args=["segments", "create", "too-deep", "--rule", rule_file(deep),
                                 "--json"])
    assert result.exit_code == 1, (result.output, result.exception)
    assert "refers to segments more than" in one_json_object(result.stdout)["error"]
    fine = deep_reference(f"s{MAX_REFERENCE_DEPTH - 1}")
    result = runner.invoke(args=["segments", "count", "--rule", rule_file(fine), "--json",
                                 "--as-of", "2023-12-31"])
    assert result.exit_code == 0, result.output
    assert one_json_object(result.stdout) == {"count": 1, "reachable": 1}


def test_counting_through_too_many_references_is_reported(runner, session, rule_file):
    """Ad hoc counts are not checked like saved segments; evaluation stops the chain."""
    for n in range(MAX_REFERENCE_DEPTH + 1):
        create_segment(session, f"s{n}", {"segment": f"s{n - 1}"} if n else json.loads(LEAF))
    session.commit()
    path = rule_file({"segment": f"s{MAX_REFERENCE_DEPTH}"})
    result = runner.invoke(args=["segments", "count", "--rule", path, "--json"])
    assert result.exit_code == 1, (result.output, result.exception)
    assert "refers to segments more than" in one_json_object(result.stdout)["error"]

