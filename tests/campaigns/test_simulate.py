"""The dry run (`flask workflows simulate`): plan, skips and time zones, computed by hand."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from campaigns import service
from campaigns.models import Enrollment, OutboxMessage, WorkflowStatus
from campaigns.simulate import simulate
from core.clock import isoz
from core.models import AuditEvent
from segments.service import refresh_membership
from tests.factories import make_patient

from .helpers import HTML, SUBJECT, TEXT, everyone_segment

MISSING = "missing merge field: screening_type (no fallback)"
SCREENING_TEXT = "Hi {{ first_name | default('there', true) }},\nBook your {{ screening_type }}.\n"
SCREENING = {"screening_type": "mammogram"}


def drip(session, purpose="care_reminder", name="Screening"):
    """Day 0: a check-up note; day 3: a screening reminder that needs `screening_type`."""
    service.create_template(session, "day0", SUBJECT, HTML, TEXT)
    service.create_template(session, "day3", "A quick reminder", HTML, SCREENING_TEXT)
    return service.create_workflow(
        session, name, everyone_segment(session),
        [{"template": "day0", "delay_days": 0}, {"template": "day3", "delay_days": 3}],
        purpose=purpose,
    )


def table_counts(session) -> tuple[int, int, int]:
    return tuple(session.scalar(select(func.count()).select_from(model))
                 for model in (OutboxMessage, Enrollment, AuditEvent))


def send(patient, step, at, zone="America/Chicago", fallback=False) -> dict:
    return {"patient": patient.id, "step": step, "at": at, "zone": zone,
            "zone_fallback": fallback}


def ordered(sends: list[dict]) -> list[dict]:
    return sorted(sends, key=lambda s: (s["at"], s["patient"], s["step"]))


def test_simulate_across_spring_forward_matches_hand_computed_plan(session, runner):
    # --as-of 2024-03-08: launch at 23:59:59 Chicago (CST) = 2024-03-09T05:59:59Z.
    # Three calendar days later (Mar 11) Chicago and Denver are on daylight time, Phoenix
    # never is; a missing or unknown zone falls back to Chicago and is flagged.
    chicago = make_patient(session, timezone="America/Chicago", traits=SCREENING)
    denver = make_patient(session, timezone="America/Denver", traits=SCREENING)
    phoenix = make_patient(session, timezone="America/Phoenix", traits=SCREENING)
    no_zone = make_patient(session, timezone=None, traits=SCREENING)
    bad_zone = make_patient(session, timezone="Mars/Olympus", traits=SCREENING)
    no_field = make_patient(session, timezone="America/Chicago")
    opted_out = make_patient(session, email_opt_in="no", traits=SCREENING)
    no_email = make_patient(session, email=None, traits=SCREENING)
    suppressed = make_patient(session, suppressed=True, traits=SCREENING)
    make_patient(session, deceased=True, traits=SCREENING)  # never a segment member
    drip(session)
    session.commit()
    before = table_counts(session)

    result = runner.invoke(args=["workflows", "simulate", "Screening", "--days", "4",
                                 "--as-of", "2024-03-08", "--json"])

    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    day0 = "2024-03-09T05:59:59Z"
    expected_sends = [
        send(p, 0, day0, z, f) for p, z, f in [
            (chicago, "America/Chicago", False), (denver, "America/Denver", False),
            (phoenix, "America/Phoenix", False), (no_zone, "America/Chicago", True),
            (bad_zone, "America/Chicago", True), (no_field, "America/Chicago", False)]
    ] + [
        send(chicago, 1, "2024-03-12T04:59:59Z"),  # Mar 11 23:59:59 CDT
        send(denver, 1, "2024-03-12T04:59:59Z", "America/Denver"),  # Mar 11 22:59:59 MDT
        send(phoenix, 1, "2024-03-12T05:59:59Z", "America/Phoenix"),  # 22:59:59 MST
        send(no_zone, 1, "2024-03-12T04:59:59Z", fallback=True),
        send(bad_zone, 1, "2024-03-12T04:59:59Z", fallback=True),
    ]
    expected_skipped = sorted([
        {"patient": no_field.id, "step": 1, "reason": MISSING},
        {"patient": opted_out.id, "reason": "opted_out"},
        {"patient": no_email.id, "reason": "no_email"},
        {"patient": suppressed.id, "reason": "suppressed"},
    ], key=lambda s: (s["patient"], s.get("step", -1)))
    assert report == {
        "workflow": "Screening", "as_of": day0, "days": 4,
        "sends": ordered(expected_sends), "skipped": expected_skipped,
        "totals": {"sends": 11, "skipped": 4, "patients": 6, "members": 9,
                   "already_enrolled": 0, "zone_fallbacks": 2},
    }
    assert table_counts(session) == before  # nothing queued, enrolled or audited


def test_simulate_across_fall_back(app, session):
    # 2023-11-03 23:59:59 CDT = 2023-11-04T04:59:59Z; Nov 6 23:59:59 CST = 05:59:59Z.
    patient = make_patient(session, traits=SCREENING)
    workflow = drip(session)
    with app.test_request_context():
        report = simulate(session, workflow, datetime(2023, 11, 4, 4, 59, 59, tzinfo=UTC), 30)
    assert [(s["step"], s["at"]) for s in report["sends"]] == [
        (0, "2023-11-04T04:59:59Z"), (1, "2023-11-07T05:59:59Z")]
    assert {s["patient"] for s in report["sends"]} == {patient.id}


@pytest.mark.parametrize(("days", "steps"), [(1, [0]), (3, [0]), (4, [0, 1])])
def test_window_holds_steps_whose_delay_is_under_n_days(app, session, days, steps):
    make_patient(session, traits=SCREENING)
    workflow = drip(session)
    with app.test_request_context():
        report = simulate(session, workflow, datetime(2023, 12, 31, 15, tzinfo=UTC), days)
    assert [s["step"] for s in report["sends"]] == steps


def test_marketing_skips_minors_and_patients_without_authorization(app, session):
    adult = make_patient(session, marketing_authorized_at="2023-01-05", traits=SCREENING)
    minor = make_patient(session, marketing_authorized_at="2023-01-05", birth_date="2010-02-01",
                         traits=SCREENING)
    unauthorised = make_patient(session, traits=SCREENING)
    service.create_template(session, "promo", "News from us", HTML, TEXT)
    workflow = service.create_workflow(session, "Promo", everyone_segment(session),
                                       [{"template": "promo", "delay_days": 0}],
                                       purpose="marketing")
    with app.test_request_context():
        report = simulate(session, workflow, datetime(2023, 12, 31, 15, tzinfo=UTC), 1)
    assert [s["patient"] for s in report["sends"]] == [adult.id]
    assert {s["patient"]: s["reason"] for s in report["skipped"]} == {
        minor.id: "minor", unauthorised.id: "no_marketing_authorization"}


def test_plan_equals_what_launch_queues(app, session):
    """The dry run computes instants exactly as enrolment does, for every zone."""
    for zone in ("America/Chicago", "America/Denver", "America/Phoenix", "Europe/Berlin", ""):
        make_patient(session, timezone=zone, traits=SCREENING)
    make_patient(session)  # lacks screening_type: queued, but skipped at send time
    workflow = drip(session)
    now = datetime(2024, 3, 8, 17, 0, tzinfo=UTC)
    refresh_membership(session, workflow_segment(session, workflow), now)
    with app.test_request_context():
        planned = simulate(session, workflow, now, 30)
    service.launch_workflow(session, workflow, now)
    queued = session.execute(select(OutboxMessage.patient_id, OutboxMessage.step_index,
                                    OutboxMessage.due_at)).all()
    missing = {(s["patient"], s["step"]) for s in planned["skipped"]}
    assert len(missing) == 1
    assert sorted((s["patient"], s["step"], s["at"]) for s in planned["sends"]) == sorted(
        (p, step, isoz(due)) for p, step, due in queued if (p, step) not in missing)
    assert workflow.status == WorkflowStatus.ACTIVE


def workflow_segment(session, workflow):
    from segments.models import Segment

    return session.get(Segment, workflow.segment_id)


def test_already_enrolled_patients_are_only_counted(app, session):
    make_patient(session, traits=SCREENING)
    workflow = drip(session)
    now = datetime(2023, 12, 31, 15, tzinfo=UTC)
    service.launch_workflow(session, workflow, now)
    make_patient(session, traits=SCREENING)
    with app.test_request_context():
        report = simulate(session, workflow, now, 30)
    assert report["totals"]["already_enrolled"] == 1
    assert report["totals"]["members"] == 2 and report["totals"]["patients"] == 1


def test_simulate_unknown_workflow_exits_1(runner):
    result = runner.invoke(args=["workflows", "simulate", "Nope", "--days", "3", "--json"])
    assert result.exit_code == 1
    assert "no workflow named 'Nope'" in result.output


def test_simulate_needs_days(runner):
    result = runner.invoke(args=["workflows", "simulate", "Nope", "--json"])
    assert result.exit_code == 2
