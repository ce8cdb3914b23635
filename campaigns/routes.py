"""Workflow pages: the list, one workflow's steps with launch, pause and resume, and the
preview of a step for one real recipient beside the launch report.

The list and the workflow page show counts and template text only. The preview shows one
patient's rendered message, so it is for marketers and admins and every view is audited
(`phi.view`); the launch report in it lists recipients by internal id only.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from auth.models import Role
from auth.permissions import ALL_STAFF, allow
from campaigns import service
from campaigns.models import OutboxStatus, Workflow, WorkflowStatus
from campaigns.preview import preview_step
from core import audit
from core.clock import utcnow
from core.db import get_session
from core.errors import SendwellError

STATUSES = [str(s) for s in OutboxStatus]
OPERATORS = frozenset({Role.ADMIN, Role.MARKETER})

bp = Blueprint("campaigns", __name__, url_prefix="/campaigns")

allow("campaigns.index", ALL_STAFF)
allow("campaigns.detail", ALL_STAFF)
allow("campaigns.preview", OPERATORS)
allow("campaigns.launch", OPERATORS)
allow("campaigns.pause", OPERATORS)
allow("campaigns.resume", OPERATORS)


def _workflow_or_404(workflow_id: str) -> Workflow:
    workflow = get_session().get(Workflow, workflow_id)
    if workflow is None:
        abort(404)
    return workflow


@bp.get("/")
def index():
    workflows = service.list_workflows(get_session())
    return render_template("campaigns/index.html", workflows=workflows, statuses=STATUSES)


@bp.get("/<workflow_id>")
def detail(workflow_id: str):
    session = get_session()
    workflow = _workflow_or_404(workflow_id)
    return render_template(
        "campaigns/detail.html",
        workflow=workflow,
        summary=service.workflow_summary(session, workflow),
        violations=service.policy_violations(session, workflow),
        statuses=STATUSES,
        can_operate=Role(current_user.role) in OPERATORS,
    )


@bp.get("/<workflow_id>/steps/<int:number>/preview")
def preview(workflow_id: str, number: int):
    session = get_session()
    workflow = _workflow_or_404(workflow_id)
    shown = preview_step(session, workflow, number, utcnow(),
                         request.args.get("patient", "").strip() or None)
    session.rollback()  # the dry run writes nothing; only the audit event is kept
    audit.record(session, current_user.email, "phi.view",
                 f"workflow/{workflow_id}/step/{number}", patient=shown.recipient)
    session.commit()
    return render_template("campaigns/preview.html", workflow=workflow, preview=shown)


@bp.post("/<workflow_id>/launch")
def launch(workflow_id: str):
    def act(session, workflow):
        enrolled = service.launch_workflow(session, workflow, utcnow(), current_user.email)
        return f"Launched: {enrolled} patients enrolled."

    return _act(workflow_id, act)


@bp.post("/<workflow_id>/pause")
def pause(workflow_id: str):
    def act(session, workflow):
        service.set_status(session, workflow, WorkflowStatus.PAUSED, current_user.email)
        return "Paused: nothing more is sent until it is resumed."

    return _act(workflow_id, act)


@bp.post("/<workflow_id>/resume")
def resume(workflow_id: str):
    def act(session, workflow):
        service.set_status(session, workflow, WorkflowStatus.ACTIVE, current_user.email)
        return "Resumed: due messages go out with the next sender pass."

    return _act(workflow_id, act)


def _act(workflow_id: str, act):
    """Run one state change; a refusal (policy, transition) is flashed, nothing is kept."""
    session = get_session()
    workflow = _workflow_or_404(workflow_id)
    try:
        message = act(session, workflow)
    except SendwellError as exc:
        session.rollback()
        flash(str(exc), "error")
    else:
        session.commit()
        flash(message, "success")
    return redirect(url_for("campaigns.detail", workflow_id=workflow_id))
