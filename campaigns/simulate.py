"""The dry run of a workflow: who would get which step when, who would be skipped and why.

Pure computation over the real patients — nothing is written (the command rolls its
transaction back). Launched at the as-of instant, the workflow would enrol the members of
its segment as of that instant; for each one this module applies what enrolment and the
sender apply: consent and suppression for the purpose (`patients.consent.skip_reason`:
deceased, no email, opted out, suppressed, and for marketing the authorization and age),
the send instant of each step (`service.due_at`: calendar days in the patient's zone, the
organisation's zone as a flagged fallback), and a render of each step with tracking off,
which finds a required merge field the patient lacks.

The window is N calendar days in each patient's zone: step k is planned when its
`delay_days` < N. Patients already enrolled are left to the outbox and only counted.
Output holds internal ids, step indexes (0 = first step), instants and reason codes; never
patient data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from campaigns import service
from campaigns.models import Enrollment, Workflow
from campaigns.rendering import TemplateParts, render_message
from campaigns.templating import MissingMergeField
from core.clock import isoz, local_date
from patients.consent import skip_reason
from patients.service import load_profile
from segments.models import Segment
from segments.service import load_population


@dataclass
class _Run:
    """What one dry run shares: the steps in the window and the settings for rendering."""

    steps: list[tuple[int, int, TemplateParts]]  # (index, delay_days, parts)
    purpose: str
    instant: datetime
    base_url: str
    org_name: str
    sends: list[dict] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)


def simulate(session: Session, workflow: Workflow, instant: datetime, days: int) -> dict:
    """The plan of `workflow` launched at `instant`, over `days` days (see module doc)."""
    if days < 1:
        raise service.WorkflowError("days must be at least 1")
    run = _new_run(session, workflow, instant, days)
    members = members_as_of(session, workflow, instant)
    facets = load_population(session).facets
    enrolled = set(session.scalars(
        select(Enrollment.patient_id).where(Enrollment.workflow_id == workflow.id)))
    today = local_date(instant, current_app.config["ORG_TIMEZONE"])
    fresh = [pid for pid in members if pid not in enrolled]
    planned = 0
    for patient_id in fresh:
        planned += _plan_patient(session, run, patient_id, facets.loc[patient_id].to_dict(),
                                 today)
    return _report(workflow, run, days, members=len(members), planned=planned,
                   already_enrolled=len(members) - len(fresh))


def _new_run(session: Session, workflow: Workflow, instant: datetime, days: int) -> _Run:
    config = current_app.config
    templates = service.step_templates(session, workflow)
    steps = [(index, step["delay_days"], templates[index][1])
             for index, step in enumerate(workflow.steps) if step["delay_days"] < days]
    return _Run(steps, workflow.purpose, instant, config["BASE_URL"], org_name())


def org_name() -> str:
    """The `org_name` merge value, as the sender fills it in (first part of the address)."""
    return current_app.config["ORG_POSTAL_ADDRESS"].split(",")[0].strip()


def members_as_of(session: Session, workflow: Workflow, instant: datetime) -> list[str]:
    """Internal ids of the workflow segment's members as of `instant` (sorted)."""
    population = load_population(session)
    segment = session.get(Segment, workflow.segment_id)
    mask = population.members(session, segment.rule, instant)
    return sorted(mask.index[mask.to_numpy()])


def _plan_patient(session: Session, run: _Run, patient_id: str, facets: dict, today) -> int:
    """Plan one member's steps; returns 1 when they would be enrolled, else 0."""
    reason = skip_reason(facets, run.purpose, today)
    profile = None if reason else load_profile(session, patient_id)
    if profile is not None and not profile.get("email"):
        reason = "no_email"
    if reason:
        run.skipped.append({"patient": patient_id, "reason": reason})
        return 0
    zone, fallback = service.zone_for(facets)
    for index, delay, parts in run.steps:
        try:
            render_message(parts, profile, run.base_url, run.org_name, tracking=False)
        except MissingMergeField as exc:
            run.skipped.append({"patient": patient_id, "step": index, "reason": str(exc)})
            continue
        at = service.due_at(run.instant, delay, zone)
        run.sends.append({"patient": patient_id, "step": index, "at": isoz(at),
                          "zone": zone, "zone_fallback": fallback})
    return 1


def _report(workflow: Workflow, run: _Run, days: int, **counts: int) -> dict:
    sends = sorted(run.sends, key=lambda s: (s["at"], s["patient"], s["step"]))
    skipped = sorted(run.skipped, key=lambda s: (s["patient"], s.get("step", -1)))
    return {
        "workflow": workflow.name, "as_of": isoz(run.instant), "days": days,
        "sends": sends, "skipped": skipped,
        "totals": {"sends": len(sends), "skipped": len(skipped),
                   "patients": counts["planned"], "members": counts["members"],
                   "already_enrolled": counts["already_enrolled"],
                   "zone_fallbacks": len({s["patient"] for s in sends if s["zone_fallback"]})},
    }
