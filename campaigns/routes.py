"""Workflow pages: the list with status and outbox counts, and one workflow's steps.

Counts and template text only — these pages never show recipients.
"""

from __future__ import annotations

from flask import Blueprint, abort, render_template

from auth.permissions import ALL_STAFF, allow
from campaigns import service
from campaigns.models import OutboxStatus, Workflow
from core.db import get_session

STATUSES = [str(s) for s in OutboxStatus]

bp = Blueprint("campaigns", __name__, url_prefix="/campaigns")

allow("campaigns.index", ALL_STAFF)
allow("campaigns.detail", ALL_STAFF)


@bp.get("/")
def index():
    workflows = service.list_workflows(get_session())
    return render_template("campaigns/index.html", workflows=workflows, statuses=STATUSES)


@bp.get("/<workflow_id>")
def detail(workflow_id: str):
    session = get_session()
    workflow = session.get(Workflow, workflow_id)
    if workflow is None:
        abort(404)
    return render_template(
        "campaigns/detail.html",
        workflow=workflow,
        summary=service.workflow_summary(session, workflow),
        statuses=STATUSES,
    )
