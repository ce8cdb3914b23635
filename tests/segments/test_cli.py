"""`flask segments count|create|members|describe`: JSON on stdout, exit codes, audit."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from core.models import AuditEvent
from tests.factories import make_patient


@pytest.fixture
def rule_file(tmp_path):
    def write(content) -> str:
        path = tmp_path / "rule.json"
        path.write_text(content if isinstance(content, str) else json.dumps(content))
        return str(path)
    return write


@pytest.fixture
def people(session):
    ids = [make_patient(session, sex="F").id, make_patient(session, sex="F", email=None).id,
           make_patient(session, sex="M").id, make_patient(session, sex="F", deceased=True).id]
    session.commit()
    return ids


WOMEN = {"field": "sex", "op": "eq", "value": "F"}


def actions(session) -> list[str]:
    session.expire_all()
    return list(session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def test_count_prints_exactly_one_json_object(runner, session, people, rule_file):
    result = runner.invoke(args=["segments", "count", "--rule", rule_file(WOMEN),
                                 "--as-of", "2023-12-31", "--json"])
    assert result.exit_code == 0, result.output
    assert result.stdout == '{"count": 2, "reachable": 1}\n'
    assert actions(session) == ["segments.count"]


def test_count_accepts_a_file_with_name_and_rule(runner, people, rule_file):
    path = rule_file({"name": "women", "description": "d", "rule": WOMEN})
    result = runner.invoke(args=["segments", "count", "--rule", path])
    assert json.loads(result.stdout) == {"count": 2, "reachable": 1}


@pytest.mark.parametrize(("content", "fragment"), [
    ({"field": "sex", "op": "like", "value": "F"}, "$.op"),
    ("{not json", "not valid JSON (line 1)"),
    ({"all": [{"segment": "missing"}]}, "does not exist"),
])
def test_count_reports_a_bad_rule_with_exit_1(runner, session, rule_file, content, fragment):
    result = runner.invoke(args=["segments", "count", "--rule", rule_file(content), "--json"])
    assert result.exit_code == 1
    assert fragment in json.loads(result.stdout)["error"]
    assert actions(session) == []


@pytest.mark.parametrize("args", [
    ["segments", "count"],
    ["segments", "count", "--rule", "/nonexistent/rule.json"],
    ["segments", "count", "--rule", "RULE", "--as-of", "31/12/2023"],
])
def test_count_wrong_usage_exits_2(runner, rule_file, args):
    args = [rule_file(WOMEN) if a == "RULE" else a for a in args]
    assert runner.invoke(args=args).exit_code == 2


def test_create_then_members_lists_internal_ids(runner, session, people, rule_file):
    created = runner.invoke(args=["segments", "create", "women", "--rule", rule_file(WOMEN),
                                  "--json"])
    assert created.exit_code == 0, created.output
    assert json.loads(created.stdout)["name"] == "women"
    result = runner.invoke(args=["segments", "members", "women", "--as-of", "2023-12-31",
                                 "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"members": sorted(people[:2])}
    assert actions(session) == ["segments.create", "segments.members"]


def test_members_of_unknown_segment_exits_1(runner):
    result = runner.invoke(args=["segments", "members", "nope", "--json"])
    assert result.exit_code == 1
    assert json.loads(result.stdout) == {"error": "no segment with that name"}


def test_explain_summarises_a_rule(runner, rule_file):
    result = runner.invoke(args=["segments", "explain", "--rule", rule_file(WOMEN), "--json"])
    assert json.loads(result.stdout) == {"rule": WOMEN, "summary": "sex is F"}


@pytest.mark.parametrize(("args", "fragment"), [
    (["count", "--json"], "Missing option '--rule'"),
    (["count", "--rule", "RULE", "--as-of", "31/12/2023", "--json"], "Invalid value"),
    (["members", "--json"], "Missing argument 'NAME'"),
    (["explain", "women", "--json"], "give NAME and CDP_ID, or only --rule FILE"),
    (["refresh", "a", "b", "--json"], "unexpected extra argument"),
    (["nonsense", "--json"], "No such command 'nonsense'"),
])
def test_wrong_usage_with_json_is_one_json_object_and_exit_2(runner, rule_file, args,
                                                             fragment):
    args = [rule_file(WOMEN) if a == "RULE" else a for a in args]
    result = runner.invoke(args=["segments", *args])
    assert result.exit_code == 2
    assert fragment in json.loads(result.stdout)["error"]
    assert "Usage:" in result.stderr


def test_wrong_usage_without_json_prints_nothing_on_stdout(runner):
    result = runner.invoke(args=["segments", "count"])
    assert (result.exit_code, result.stdout) == (2, "")


def test_an_unexpected_failure_is_still_one_json_object(runner, session, rule_file,
                                                        monkeypatch, caplog):
    """A bug (not a reported failure) answers `{"error"}` and exit 1; the log gets the
    traceback's frames but not the exception's message, which could hold data."""
    from segments import service

    secret = "-".join(["patient", "value", "123"])  # not in the source the frames quote

    def broken(*_args, **_kwargs):
        raise KeyError(secret)

    monkeypatch.setattr(service, "count_rule", broken)
    result = runner.invoke(args=["segments", "count", "--rule", rule_file(WOMEN), "--json"])
    assert result.exit_code == 1
    assert json.loads(result.stdout) == {
        "error": "internal error (KeyError); details are in the log"}
    assert "in count_command" in caplog.text
    assert secret not in caplog.text + result.output
    assert actions(session) == []
