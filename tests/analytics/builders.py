"""Builders for analytics tests: sent outbox rows with tokens and tracked links, built
directly from the models (the campaigns pipeline is not needed to test tracking)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime

from campaigns.models import OutboxMessage, OutboxStatus, TrackedLink, Workflow
from core.crypto import key_ring
from core.db import new_id
from segments.models import Segment
from tests.factories import make_patient

SENT_AT = datetime(2023, 12, 1, 15, 0, tzinfo=UTC)


def sha(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass
class Sent:
    message: OutboxMessage
    open_token: str
    unsubscribe_token: str
    link_tokens: list[str] = field(default_factory=list)


def segment_named(session, name: str) -> Segment:
    segment = session.query(Segment).filter_by(name=name).one_or_none()
    if segment is None:
        segment = Segment(name=name, rule={"all": []})
        session.add(segment)
        session.flush()
    return segment


def _workflow_for(session, segment: Segment) -> Workflow:
    workflow = session.query(Workflow).filter_by(segment_id=segment.id).first()
    if workflow is None:
        workflow = Workflow(name=f"{segment.name} drip", segment_id=segment.id, steps=[])
        session.add(workflow)
        session.flush()
    return workflow


def add_link(session, message: OutboxMessage, url: str) -> str:
    """Register a tracked link for `message` the way campaigns does; returns its token."""
    token, link_id = secrets.token_urlsafe(24), new_id()
    session.add(TrackedLink(
        id=link_id, outbox_id=message.id, token_hash=sha(token),
        url_enc=key_ring().encrypt_json(url, "tracked_links", "url_enc", link_id),
    ))
    session.flush()
    return token


def send_message(session, patient=None, segment: str = "Diabetes care", sent_at=SENT_AT,
                 links: tuple[str, ...] = (), status: str = OutboxStatus.SENT) -> Sent:
    """One outbox row as the sender leaves it: sent, with open and unsubscribe tokens."""
    patient = patient or make_patient(session)
    seg = segment_named(session, segment)
    open_token, unsub_token = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    message = OutboxMessage(
        id=new_id(), idempotency_key=secrets.token_hex(32),
        message_id=f"<{secrets.token_hex(8)}@sendwell.test>", workflow_id=_workflow_for(
            session, seg).id, segment_id=seg.id, step_index=0, patient_id=patient.id,
        due_at=sent_at, status=status, sent_at=sent_at,
        open_token_hash=sha(open_token), unsubscribe_token_hash=sha(unsub_token),
    )
    session.add(message)
    session.flush()
    tokens = [add_link(session, message, url) for url in links]
    return Sent(message, open_token, unsub_token, tokens)
