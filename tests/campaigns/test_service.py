"""Templates, workflows, status moves, enrolment idempotency and calendar-day delays."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from campaigns import service
from campaigns.models import Enrollment, OutboxMessage
from campaigns.status import TRANSITIONS, TransitionRefused, check_transition, refusal
from campaigns.templating import TemplateRefused
from tests.factories import make_patient

from .helpers import HTML, NOW, SUBJECT, TEXT, everyone_segment, launched_workflow

B13 = json.loads((Path(__file__).parents[1] / "cases" / "B13-dst-schedules.json").read_text())
EXAMPLES = Path(__file__).parents[2] / "campaigns" / "examples" / "demo_drip.json"


def test_template_is_validated_and_upserted(session):
    first = service.create_template(session, "t", SUBJECT, HTML, TEXT)
    again = service.create_template(session, "t", "New subject", HTML, TEXT, preheader="p")
    assert first.id == again.id and again.subject == "New subject"
    with pytest.raises(TemplateRefused):
        service.create_template(session, "bad", "{{ ssn }}", HTML, TEXT)


def test_shipped_example_templates_validate(session):
    spec = json.loads(EXAMPLES.read_text())
    for template in spec["templates"]:
        service.create_template(session, **template)
        assert "{{" not in template["subject"] or "first_name" in template["subject"]
    assert [s["delay_days"] for s in spec["steps"]] == [0, 3]
    assert spec["purpose"] == "care_reminder"


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        ([], "at least one step"),
        ([{"template": "day0", "delay_days": -1}], "delay_days"),
        ([{"template": "day0", "delay_days": 3}, {"template": "day0", "delay_days": 1}],
         "delay_days"),
        ([{"template": "nope", "delay_days": 0}], "no template named 'nope'"),
    ],
)
def test_bad_workflow_steps_are_refused(session, steps, message):
    service.create_template(session, "day0", SUBJECT, HTML, TEXT)
    segment = everyone_segment(session)
    with pytest.raises(Exception, match=message):
        service.create_workflow(session, "wf", segment, steps)


@pytest.mark.parametrize(("move", "reason"), list(TRANSITIONS.items()))
def test_transition_table(move, reason):
    assert refusal(*move) == reason


def test_refused_transition_says_why():
    with pytest.raises(TransitionRefused, match="pause it instead"):
        check_transition("active", "draft")
    assert refusal("active", "active") == "the workflow is already active"
    assert refusal("active", "archived") == "unknown workflow status 'archived'"


def test_draft_workflow_cannot_enroll(session):
    service.create_template(session, "day0", SUBJECT, HTML, TEXT)
    workflow = service.create_workflow(session, "wf", everyone_segment(session),
                                       [{"template": "day0", "delay_days": 0}])
    with pytest.raises(service.WorkflowError, match="activate it"):
        service.enroll_members(session, workflow, NOW)


def test_enrolling_twice_creates_the_same_outbox_rows(session):
    for _ in range(3):
        make_patient(session)
    workflow = launched_workflow(session)
    before = sorted(session.execute(
        select(OutboxMessage.idempotency_key, OutboxMessage.message_id, OutboxMessage.due_at)))
    assert service.enroll_members(session, workflow, NOW.replace(hour=18)) == 0
    assert service.launch_workflow(session, workflow, NOW) == 0
    after = sorted(session.execute(
        select(OutboxMessage.idempotency_key, OutboxMessage.message_id, OutboxMessage.due_at)))
    assert len(before) == 6 and after == before
    assert session.scalar(select(func.count()).select_from(Enrollment)) == 3


def test_patients_who_may_not_be_mailed_are_not_enrolled(session):
    make_patient(session, email_opt_in="no")
    make_patient(session, email=None)
    ok = make_patient(session)
    launched_workflow(session)
    assert session.scalars(select(OutboxMessage.patient_id).distinct()).all() == [ok.id]


@pytest.mark.parametrize("case", [c for c in B13["cases"] if "enrolled_at" in c],
                         ids=lambda c: c["id"])
def test_b13_day_delays_are_calendar_days(case):
    enrolled = datetime.fromisoformat(case["enrolled_at"])
    due = service.due_at(enrolled, case["delay"]["days"], case["recipient_timezone"])
    assert due == datetime.fromisoformat(case["expected_send_utc"].replace("Z", "+00:00"))


def test_drip_across_spring_forward_denver_vs_chicago(session):
    # Enrolled Friday 2024-03-08 17:00 UTC: 10:00 in Denver, 11:00 in Chicago (standard
    # time). Three calendar days later both zones are on daylight time.
    denver = make_patient(session, timezone="America/Denver")
    chicago = make_patient(session, timezone="America/Chicago")
    phoenix = make_patient(session, timezone="America/Phoenix")  # no DST
    launched_workflow(session, now=datetime(2024, 3, 8, 17, 0, tzinfo=UTC))
    due = dict(session.execute(select(OutboxMessage.patient_id, OutboxMessage.due_at)
                               .where(OutboxMessage.step_index == 1)).all())
    assert due[denver.id] == datetime(2024, 3, 11, 16, 0, tzinfo=UTC)  # 10:00 MDT
    assert due[chicago.id] == datetime(2024, 3, 11, 16, 0, tzinfo=UTC)  # 11:00 CDT
    assert due[phoenix.id] == datetime(2024, 3, 11, 17, 0, tzinfo=UTC)  # 10:00 MST
    first = set(session.scalars(select(OutboxMessage.due_at)
                                .where(OutboxMessage.step_index == 0)))
    assert first == {datetime(2024, 3, 8, 17, 0, tzinfo=UTC)}


def test_list_workflows_reports_counts_without_phi(session):
    make_patient(session, first_name="Secretname")
    launched_workflow(session)
    [listed] = service.list_workflows(session)
    assert listed["status"] == "active" and listed["steps"] == 2
    assert listed["outbox"] == {"queued": 2}
    assert listed["segment"] == "everyone"
    assert "Secretname" not in json.dumps(listed)
