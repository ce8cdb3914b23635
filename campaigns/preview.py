"""One workflow step rendered for one real recipient, beside the launch report.

The step is rendered as it would be sent (marketing mail with its postal address footer)
but with tracking off: no token is registered and links keep their real destinations. The
recipient is the first member the step would be sent to, or a member chosen by internal
id. The launch report is the dry run (`campaigns.simulate`) over every step plus the PHI
policy's findings, so each failure the launch would meet is listed before it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask import current_app
from sqlalchemy.orm import Session

from campaigns import service
from campaigns.models import Workflow
from campaigns.rendering import Rendered, header_safe, merge_values, render_message
from campaigns.simulate import members_as_of, org_name, simulate
from campaigns.templating import MissingMergeField, render_part
from core.errors import NotFound
from patients.service import load_profile


@dataclass
class Preview:
    """What the preview page shows; `recipient` is an internal id, never PHI."""

    step: int  # 1-based, as on the workflow page
    template: str
    recipient: str | None
    report: dict
    violations: list[str]
    preheader: str = ""
    rendered: Rendered | None = None
    problem: str | None = None  # why this recipient would get no message for this step


def preview_step(session: Session, workflow: Workflow, number: int, now: datetime,
                 patient_id: str | None = None) -> Preview:
    """Render step `number` for `patient_id` (or the first planned recipient)."""
    if not 1 <= number <= len(workflow.steps):
        raise NotFound("this workflow has no such step")
    report = simulate(session, workflow, now, workflow.steps[-1]["delay_days"] + 1)
    if patient_id and patient_id not in set(members_as_of(session, workflow, now)):
        raise NotFound("that patient is not a member of this workflow's segment")
    name, parts = service.step_templates(session, workflow)[number - 1]
    recipient = patient_id or _first_recipient(report, number - 1)
    preview = Preview(number, name, recipient, report,
                      service.policy_violations(session, workflow))
    if recipient is None:
        preview.problem = "no member of the segment would receive this step"
        return preview
    preview.problem = _skip_reason(report, recipient, number - 1)
    profile = load_profile(session, recipient)
    try:
        preview.rendered = render_message(parts, profile, current_app.config["BASE_URL"],
                                          org_name(), tracking=False)
        values = merge_values(profile, org_name(), preview.rendered.unsubscribe_url)
        preview.preheader = header_safe(render_part(parts.preheader,
                                                    {k: header_safe(v) for k, v in values.items()}))
    except MissingMergeField as exc:
        preview.problem = str(exc)
    return preview


def _first_recipient(report: dict, index: int) -> str | None:
    planned = sorted(s["patient"] for s in report["sends"] if s["step"] == index)
    return planned[0] if planned else None


def _skip_reason(report: dict, patient_id: str, index: int) -> str | None:
    for skip in report["skipped"]:
        if skip["patient"] == patient_id and skip.get("step", index) == index:
            return f"this patient would be skipped: {skip['reason']}"
    return None
