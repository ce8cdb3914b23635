"""Scheduled campaign work: enrol new segment members into active drips, send what is due."""

from __future__ import annotations

from flask import current_app
from sqlalchemy import select

from campaigns.models import Workflow, WorkflowStatus
from campaigns.sending import send_due
from campaigns.service import enroll_members
from core.clock import utcnow
from core.db import new_session
from core.mail_transport import SmtpTransport


def enroll_active_workflows() -> int:
    added = 0
    with new_session() as session:
        active = select(Workflow).where(Workflow.status == WorkflowStatus.ACTIVE)
        for workflow in session.scalars(active):
            added += enroll_members(session, workflow, utcnow())
        session.commit()
    return added


def send_due_messages() -> dict:
    transport = SmtpTransport.from_config(current_app.config)
    return send_due(new_session, utcnow(), transport, current_app.config["BASE_URL"])
