"""Engagement fed back to the CDP as Segment-spec `track` events.

Each sent, bounced, opened, clicked or unsubscribed message becomes one event keyed by the
CDP's patient id (`userId`), with a deterministic `messageId` so the CDP (or Sendwell's own
event import) can de-duplicate a re-export. Opens and clicks carry their report-time class
(`human`, `machine_open`, `scanner_click`). The export holds PHI (patient ids): the caller
audits it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from analytics import classify
from analytics.models import EngagementEvent
from campaigns.models import OutboxMessage, OutboxStatus, Workflow
from core.clock import isoz
from patients.service import load_profile

HIT_EVENTS = {"open": "Email Opened", "click": "Email Link Clicked",
              "unsubscribe": "Unsubscribed"}
OUTCOME_EVENTS = {OutboxStatus.SENT: "Email Delivered", OutboxStatus.FAILED: "Email Bounced"}


def track_events(session: Session, since: datetime | None = None) -> Iterator[dict]:
    """Every engagement event at or after `since`, oldest first, as Segment `track` calls."""
    workflows = dict(session.execute(select(Workflow.id, Workflow.name)).all())
    cdp_ids: dict[str, str] = {}

    def cdp_id(patient_id: str) -> str:
        if patient_id not in cdp_ids:
            cdp_ids[patient_id] = load_profile(session, patient_id)["cdp_id"]
        return cdp_ids[patient_id]

    rows = sorted([*_outcomes(session, since), *_hits(session, since)],
                  key=lambda row: row[:3])  # time, then event name, then a stable key
    for at, name, key, message, properties in rows:
        yield {
            "type": "track", "event": name, "userId": cdp_id(message.patient_id),
            "messageId": _message_id(key), "timestamp": isoz(at),
            "properties": {"campaign": workflows.get(message.workflow_id, ""),
                           "step": message.step_index + 1, **properties},
        }


def _outcomes(session: Session, since: datetime | None):
    query = select(OutboxMessage).where(OutboxMessage.status.in_(list(OUTCOME_EVENTS)))
    for message in session.scalars(query):
        at = message.sent_at or message.due_at
        if since is None or at >= since:
            yield at, OUTCOME_EVENTS[message.status], f"outcome:{message.id}", message, {}


def _hits(session: Session, since: datetime | None):
    query = (select(EngagementEvent, OutboxMessage)
             .join(OutboxMessage, OutboxMessage.id == EngagementEvent.outbox_id)
             .where(EngagementEvent.kind.in_(list(HIT_EVENTS))))
    if since is not None:
        query = query.where(EngagementEvent.occurred_at >= since)
    for hit, message in session.execute(query):
        properties = {}
        if hit.kind in ("open", "click"):
            properties["class"] = classify.classification(hit.kind, hit.user_agent_class)
        yield hit.occurred_at, HIT_EVENTS[hit.kind], f"hit:{hit.id}", message, properties


def _message_id(key: str) -> str:
    return "sendwell-" + hashlib.sha256(key.encode()).hexdigest()[:32]
