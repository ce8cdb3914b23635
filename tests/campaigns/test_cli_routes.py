"""`flask workflows …`, `flask sender run-once`, and the workflow pages."""

from __future__ import annotations

import json

import pytest
from flask_login import login_user

from auth.models import Role, User
from campaigns import service
from core.dev_smtp import DevSmtpServer
from tests.factories import make_patient

from .helpers import HTML, SUBJECT, TEXT, everyone_segment, launched_workflow


def draft_workflow(session):
    service.create_template(session, "day0", SUBJECT, HTML, TEXT)
    workflow = service.create_workflow(session, "Check-up", everyone_segment(session),
                                       [{"template": "day0", "delay_days": 0}])
    session.commit()
    return workflow


def test_workflows_list_json(session, runner):
    make_patient(session)
    launched_workflow(session)
    session.commit()
    result = runner.invoke(args=["workflows", "list", "--json"])
    assert result.exit_code == 0, result.output
    [workflow] = json.loads(result.output)["workflows"]
    assert (workflow["name"], workflow["steps"], workflow["outbox"]) == (
        "Check-up", 2, {"queued": 2})


def test_launch_activates_and_enrolls(session, runner):
    make_patient(session)
    make_patient(session)
    draft_workflow(session)
    result = runner.invoke(args=["workflows", "launch", "Check-up", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"workflow": "Check-up", "status": "active",
                                         "enrolled": 2}
    again = runner.invoke(args=["workflows", "launch", "Check-up", "--json"])
    assert json.loads(again.output)["enrolled"] == 0


def test_launch_unknown_workflow_exits_1(runner):
    result = runner.invoke(args=["workflows", "launch", "Nope"])
    assert result.exit_code == 1
    assert "no workflow named 'Nope'" in result.output


def test_sender_run_once_json(app, session, runner):
    make_patient(session)
    draft_workflow(session)
    runner.invoke(args=["workflows", "launch", "Check-up"])
    with DevSmtpServer(app) as smtp:
        app.config.update(SMTP_URL=f"smtp://localhost:{smtp.port}", SMTP_CA_FILE=smtp.ca_file)
        result = runner.invoke(args=["sender", "run-once", "--json"])
    assert result.exit_code == 0, result.output
    counts = json.loads(result.output)
    assert (counts["sent"], counts["failed"], counts["unknown"]) == (1, 0, 0)


def test_sender_refuses_relay_without_tls_verification_material(app, session, runner):
    make_patient(session)
    draft_workflow(session)
    runner.invoke(args=["workflows", "launch", "Check-up"])
    with DevSmtpServer(app) as smtp:
        app.config.update(SMTP_URL=f"smtp://localhost:{smtp.port}", SMTP_CA_FILE=None)
        result = runner.invoke(args=["sender", "run-once", "--json"])
    assert result.exit_code == 1
    assert "failed verification" in result.output


def get_as(app, session, path: str, role=Role.MARKETER):
    user = User(email=f"{role}@example.org", role=role)
    session.add(user)
    session.commit()
    with app.test_request_context(path):
        login_user(user)
        response = app.full_dispatch_request()
        return response.status_code, response.get_data(as_text=True)


def test_pages_need_sign_in(client):
    response = client.get("/campaigns/")
    assert response.status_code == 302 and "/auth/login" in response.headers["Location"]


@pytest.mark.parametrize("role", list(Role))
def test_index_lists_workflows_with_counts(app, session, role):
    make_patient(session, first_name="Secretname")
    workflow = launched_workflow(session)
    session.commit()
    status, html = get_as(app, session, "/campaigns/", role)
    assert status == 200
    assert f'href="/campaigns/{workflow.id}"' in html and "Check-up" in html
    assert "Secretname" not in html


def test_detail_shows_steps(app, session):
    make_patient(session)
    workflow = launched_workflow(session)
    session.commit()
    status, html = get_as(app, session, f"/campaigns/{workflow.id}")
    assert status == 200
    assert "A quick reminder" in html and "Patients enrolled" in html
    assert get_as(app, session, "/campaigns/nope", Role.ADMIN)[0] == 404


def test_sender_without_subcommand_loops_until_interrupted(runner, monkeypatch):
    passes = []

    def fake_send_due(*_args, **_kwargs):
        passes.append(1)
        return {"sent": 0}

    def stop_after_two(_seconds):
        if len(passes) >= 2:
            raise KeyboardInterrupt

    monkeypatch.setattr("campaigns.cli.send_due", fake_send_due)
    monkeypatch.setattr("campaigns.cli.time.sleep", stop_after_two)
    result = runner.invoke(args=["sender", "--interval", "1"])
    assert result.exit_code == 0, result.output
    assert len(passes) == 2
    assert "sender: stopped" in result.stderr


def test_replacing_a_segment_rule_names_the_active_workflows_sending_to_it(
        session, runner, tmp_path):
    make_patient(session)
    launched_workflow(session)
    session.commit()
    rule = tmp_path / "rule.json"
    rule.write_text(json.dumps({"field": "sex", "op": "eq", "value": "F"}))
    result = runner.invoke(args=["segments", "create", "everyone", "--rule", str(rule),
                                 "--replace"])
    assert result.exit_code == 0, result.output
    assert "active workflows using it follow the new rule: Check-up;" in result.stderr
