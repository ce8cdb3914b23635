"""Campaigns' business rules: templates, workflows (drips), their status, and enrolment.

Enrolment is where exactly-once sending starts: each (workflow, step, patient) gets one
outbox row whose unique idempotency key and Message-ID are derived from that triple, so
enrolling again creates nothing new. Day-based delays are calendar days in the patient's
own time zone, at the enrolment's local time of day (not multiples of 24 hours).
Launching checks the PHI policy (`campaigns.policy`) first: a violation refuses the launch
before anything is queued; marketing mail gets the postal address footer when it is sent
(`policy.effective_parts`), never by rewriting the marketer's template.
Services never commit; the command, route or job that calls them does.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campaigns import policy
from campaigns.models import (
    EmailTemplate,
    Enrollment,
    OutboxMessage,
    Purpose,
    Workflow,
    WorkflowStatus,
)
from campaigns.rendering import TemplateParts, message_id_for
from campaigns.status import check_transition
from campaigns.templating import validate_template
from core import audit
from core.clock import local_date
from core.db import new_id
from core.errors import NotFound, SendwellError
from patients.consent import skip_reason
from patients.service import facets_for
from segments.models import Segment
from segments.service import get_segment, member_ids
from segments.signals import segment_in_use


class WorkflowError(SendwellError):
    """A workflow definition that cannot be saved or run."""


def create_template(
    session: Session, name: str, subject: str, html: str, text: str, preheader: str = ""
) -> EmailTemplate:
    """Validate and save a template (upsert by name)."""
    validate_template(subject, html, text, preheader)
    template = session.scalar(select(EmailTemplate).where(EmailTemplate.name == name))
    if template is None:
        template = EmailTemplate(id=new_id(), name=name)
        session.add(template)
    template.subject, template.html, template.text = subject, html, text
    template.preheader = preheader
    _guard_running_workflows(session, name)
    session.flush()
    return template


def _guard_running_workflows(session: Session, template_name: str) -> None:
    """A running workflow's policy must still hold after the edit (else `PolicyViolation`,
    and the caller rolls back)."""
    for workflow in session.scalars(select(Workflow).order_by(Workflow.name)):
        if template_name not in {step["template"] for step in workflow.steps}:
            continue
        if workflow.status != WorkflowStatus.DRAFT:
            check_policy(session, workflow)


def get_template(session: Session, name: str) -> EmailTemplate:
    template = session.scalar(select(EmailTemplate).where(EmailTemplate.name == name))
    if template is None:
        raise NotFound(f"no template named '{name}'")
    return template


def _checked_steps(session: Session, steps: list[dict]) -> list[dict]:
    if not steps:
        raise WorkflowError("a workflow needs at least one step")
    checked, previous = [], 0
    for number, step in enumerate(steps, start=1):
        delay = step.get("delay_days")
        if not isinstance(delay, int) or isinstance(delay, bool) or delay < previous:
            raise WorkflowError(f"step {number}: delay_days must be a whole number, "
                                "not smaller than the previous step's")
        get_template(session, step.get("template", ""))
        checked.append({"template": step["template"], "delay_days": delay})
        previous = delay
    return checked


def create_workflow(
    session: Session, name: str, segment: Segment | str, steps: list[dict],
    purpose: str = Purpose.CARE_REMINDER,
) -> Workflow:
    """Validate and save a drip workflow (upsert by name; a new one starts as draft)."""
    if purpose not in set(Purpose):
        raise WorkflowError(f"unknown purpose '{purpose}'")
    segment = get_segment(session, segment) if isinstance(segment, str) else segment
    checked = _checked_steps(session, steps)
    workflow = get_workflow(session, name, missing_ok=True)
    if workflow is None:
        workflow = Workflow(id=new_id(), name=name, status=WorkflowStatus.DRAFT)
        session.add(workflow)
    workflow.segment_id, workflow.steps, workflow.purpose = segment.id, checked, str(purpose)
    session.flush()
    if workflow.status != WorkflowStatus.DRAFT:  # a running workflow must stay within policy
        check_policy(session, workflow)
    return workflow


def get_workflow(session: Session, name: str, missing_ok: bool = False) -> Workflow | None:
    workflow = session.scalar(select(Workflow).where(Workflow.name == name))
    if workflow is None and not missing_ok:
        raise NotFound(f"no workflow named '{name}'")
    return workflow


def set_status(session: Session, workflow: Workflow, target: str, actor: str = "system") -> None:
    """Move a workflow to `target`, or raise `TransitionRefused` saying why not."""
    before = workflow.status
    workflow.status = check_transition(before, target)
    audit.record(session, actor, "workflow.status", workflow.id, before=before, after=target)


def idempotency_key(workflow_id: str, step: int, patient_id: str) -> str:
    return hashlib.sha256(f"{workflow_id}:{step}:{patient_id}".encode()).hexdigest()


def due_at(now: datetime, delay_days: int, tz_name: str) -> datetime:
    """`now` plus `delay_days` calendar days at the same local time in `tz_name`, as UTC."""
    if delay_days == 0:
        return now.astimezone(UTC)
    zone = ZoneInfo(tz_name)
    local = now.astimezone(zone)
    target = datetime.combine(local.date() + timedelta(days=delay_days), local.time(),
                              tzinfo=zone)
    return target.astimezone(UTC)


def zone_for(facets: dict) -> tuple[str, bool]:
    """The patient's time zone, or the organisation's with `True` (fallback, to be flagged)."""
    name = facets.get("timezone")
    if isinstance(name, str) and name:
        try:
            ZoneInfo(name)
            return name, False
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return current_app.config["ORG_TIMEZONE"], True


def _patient_zone(facets: dict) -> str:
    return zone_for(facets)[0]


def _outbox_rows(workflow: Workflow, segment_id: str, patient_id: str, now: datetime,
                 tz_name: str) -> list[OutboxMessage]:
    sender = current_app.config["SMTP_FROM"]
    rows = []
    for index, step in enumerate(workflow.steps):
        key = idempotency_key(workflow.id, index, patient_id)
        rows.append(OutboxMessage(
            id=new_id(), idempotency_key=key, message_id=message_id_for(key, sender),
            workflow_id=workflow.id, segment_id=segment_id, step_index=index,
            patient_id=patient_id, due_at=due_at(now, step["delay_days"], tz_name),
        ))
    return rows


def enroll_members(session: Session, workflow: Workflow, now: datetime) -> int:
    """Enrol current segment members who may be mailed; returns how many were new."""
    if workflow.status != WorkflowStatus.ACTIVE:
        raise WorkflowError(f"workflow is {workflow.status}; activate it before enrolling")
    segment = session.get(Segment, workflow.segment_id)
    enrolled = set(session.scalars(
        select(Enrollment.patient_id).where(Enrollment.workflow_id == workflow.id)))
    as_of = local_date(now, current_app.config["ORG_TIMEZONE"])
    skipped: Counter[str] = Counter()
    added = 0
    for patient_id in member_ids(session, segment):
        if patient_id in enrolled:
            continue
        facets = facets_for(session, patient_id)
        reason = skip_reason(facets, workflow.purpose, as_of)
        if reason:
            skipped[reason] += 1
            continue
        session.add(Enrollment(id=new_id(), workflow_id=workflow.id, patient_id=patient_id,
                               enrolled_at=now))
        session.add_all(_outbox_rows(workflow, segment.id, patient_id, now, _patient_zone(facets)))
        added += 1
    session.flush()
    audit.record(session, "system", "workflow.enroll", workflow.id, enrolled=added,
                 skipped=dict(skipped))
    return added


def step_templates(session: Session, workflow: Workflow) -> list[tuple[str, TemplateParts]]:
    """Each step's (template name, parts as they would be sent for the workflow's purpose)."""
    address = current_app.config["ORG_POSTAL_ADDRESS"]
    steps = []
    for step in workflow.steps:
        row = get_template(session, step["template"])
        parts = TemplateParts(row.subject, row.html, row.text, row.preheader)
        steps.append((row.name, policy.effective_parts(parts, workflow.purpose, address)))
    return steps


def policy_violations(session: Session, workflow: Workflow) -> list[str]:
    """Every way the workflow's templates break the PHI policy (empty when none)."""
    config = current_app.config
    found = [f"sender: clinical merge field '{field}' is not allowed in {place}"
             for field, place in policy.sender_violations(config["SMTP_FROM"])]
    for number, (name, parts) in enumerate(step_templates(session, workflow), start=1):
        found += policy.step_violations(number, name, parts, workflow.purpose,
                                        config["ORG_POSTAL_ADDRESS"])
    return found


def check_policy(session: Session, workflow: Workflow) -> None:
    """Raise `PolicyViolation` naming every field and where it appears, if any."""
    found = policy_violations(session, workflow)
    if found:
        raise policy.PolicyViolation("refused by the PHI policy: " + "; ".join(found))


def launch_workflow(
    session: Session, workflow: Workflow, now: datetime, actor: str = "system"
) -> int:
    """Check the PHI policy, then activate (if needed) and enrol the segment's members."""
    check_policy(session, workflow)
    if workflow.status != WorkflowStatus.ACTIVE:
        set_status(session, workflow, WorkflowStatus.ACTIVE, actor)
    return enroll_members(session, workflow, now)


def outbox_counts(session: Session) -> dict[str, dict[str, int]]:
    """Per workflow id: number of outbox rows by status."""
    rows = session.execute(
        select(OutboxMessage.workflow_id, OutboxMessage.status, func.count())
        .group_by(OutboxMessage.workflow_id, OutboxMessage.status)
    )
    counts: dict[str, dict[str, int]] = {}
    for workflow_id, status, count in rows:
        counts.setdefault(workflow_id, {})[status] = count
    return counts


def list_workflows(session: Session) -> list[dict]:
    """Every workflow with its segment, steps, status and outbox counts (no PHI)."""
    counts = outbox_counts(session)
    names = dict(session.execute(select(Segment.id, Segment.name)).all())
    return [
        {
            "id": w.id, "name": w.name, "status": w.status, "purpose": w.purpose,
            "segment": names.get(w.segment_id), "steps": len(w.steps),
            "step_delays": [s["delay_days"] for s in w.steps],
            "outbox": counts.get(w.id, {}),
        }
        for w in session.scalars(select(Workflow).order_by(Workflow.name))
    ]


def workflow_summary(session: Session, workflow: Workflow) -> dict:
    """One workflow's segment, and per step its template subject and outbox counts."""
    rows = session.execute(
        select(OutboxMessage.step_index, OutboxMessage.status, func.count())
        .where(OutboxMessage.workflow_id == workflow.id)
        .group_by(OutboxMessage.step_index, OutboxMessage.status)
    )
    by_step: dict[int, dict[str, int]] = {}
    for step, status, count in rows:
        by_step.setdefault(step, {})[status] = count
    segment = session.get(Segment, workflow.segment_id)
    steps = []
    for index, step in enumerate(workflow.steps):
        template = get_template(session, step["template"])
        steps.append({"number": index + 1, "delay_days": step["delay_days"],
                      "template": template.name, "subject": template.subject,
                      "outbox": by_step.get(index, {})})
    return {"segment": segment.name if segment else None, "steps": steps,
            "enrolled": session.scalar(select(func.count()).select_from(Enrollment)
                                       .where(Enrollment.workflow_id == workflow.id))}


@segment_in_use.connect
def active_workflows_using(segment: Segment, session: Session, **_extra) -> list[str]:
    """Names of the active workflows that send to `segment` (asked before its rule changes)."""
    query = select(Workflow.name).where(
        Workflow.segment_id == segment.id, Workflow.status == WorkflowStatus.ACTIVE
    ).order_by(Workflow.name)
    return list(session.scalars(query))
