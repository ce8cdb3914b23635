"""The sending pipeline: claim due outbox rows, re-check consent, render, send, settle.

Each row is settled exactly once: `sent`, `skipped` (consent, suppression or a missing
merge field, with the reason), `failed` (the mailbox does not exist: the address is
suppressed), `unknown` (the connection dropped after DATA) — or put back in the queue when
the relay asked us to retry later or refused the whole batch (the workflow is then paused).
Outcomes are committed per small batch, and no write transaction is held while talking to
the relay (SQLite would otherwise block a local catcher writing to the same database); a
sender that dies between sending and recording leaves its armed rows `sending`, whose
lease then expires into `unknown` (rows it had claimed but not armed go back to the queue;
see `campaigns.outbox`). `send_due` claims small chunks until nothing due is left, so
several senders share a large step. The audit trail gets counts, never recipients.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parseaddr

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from campaigns import links, outbox, policy
from campaigns.models import (
    OutboxMessage,
    OutboxStatus,
    Workflow,
    WorkflowStatus,
)
from campaigns.rendering import Rendered, TemplateParts, build_mime, render_message
from campaigns.service import get_template, set_status
from campaigns.templating import MissingMergeField
from core import audit, metrics
from core.clock import local_date
from core.crypto import key_ring
from core.mail_transport import Delivery, Outcome, SmtpConnection, TransportError
from patients.consent import skip_reason, suppress
from patients.facets import frame_from_rows
from patients.models import Patient, Suppression
from patients.service import empty_profile

COMMIT_EVERY = 20
COUNT_KEYS = ("sent", "skipped", "failed", "unknown", "retry", "released")


class BatchStopped(Exception):
    """The relay refused us as a sender: stop this batch (internal control flow)."""


@dataclass
class Settlement:
    """What happened to one claimed row, written after the batch's conversation."""

    row_id: str
    status: OutboxStatus
    error: str = ""
    attempted: bool = False
    retry_at: datetime | None = None
    rendered: Rendered | None = None
    suppress_email: str | None = None
    pause_workflow: str | None = None


class _Context:
    """What every row of one run shares: settings, the connection, template cache."""

    def __init__(self, now: datetime, base_url: str):
        config = current_app.config
        self.connection: SmtpConnection | None = None
        self.in_flight: str | None = None
        self.now, self.base_url = now, base_url
        self._started = time.monotonic()
        self.sender = config["SMTP_FROM"]
        self.envelope_from = parseaddr(self.sender)[1]
        self.org_name = config["ORG_POSTAL_ADDRESS"].split(",")[0].strip()
        self.as_of = local_date(now, config["ORG_TIMEZONE"])
        self.counts: Counter[str] = Counter()
        self._templates: dict[tuple[str, int], TemplateParts] = {}

    def clock(self) -> datetime:
        """`now` advanced by the run's elapsed time: leases stay true during long runs."""
        return self.now + timedelta(seconds=time.monotonic() - self._started)

    def template(self, session: Session, workflow: Workflow, step: int) -> TemplateParts:
        """The step's template as sent for the workflow's purpose (marketing mail gains the
        postal address footer), read once per run."""
        key = (workflow.id, step)
        if key not in self._templates:
            row = get_template(session, workflow.steps[step]["template"])
            parts = TemplateParts(row.subject, row.html, row.text, row.preheader)
            self._templates[key] = policy.effective_parts(
                parts, workflow.purpose, current_app.config["ORG_POSTAL_ADDRESS"])
        return self._templates[key]


def send_due(
    session_factory: Callable[[], Session], now: datetime, transport, base_url: str
) -> dict:
    """Send every due, queued message once; returns counts by outcome."""
    with session_factory() as session:
        expired = outbox.expire_leases(session, now)
        session.commit()
    ctx = _Context(now, base_url)
    ctx.counts.update(unknown=expired["unknown"], released=expired["requeued"])
    try:
        while claimed := _claim(session_factory, ctx):
            _send_claimed(session_factory, claimed, transport, ctx)
    finally:
        result = {key: ctx.counts.get(key, 0) for key in COUNT_KEYS}
        metrics.count_sends(result)
    if any(result.values()):  # an idle scheduler tick is not an event worth auditing
        with session_factory() as session:
            audit.record(session, "sender", "outbox.send", "", **result)
            session.commit()
    return result


def _claim(session_factory, ctx: _Context) -> list[str]:
    """One chunk of due rows for this sender (empty when none is left or we stopped)."""
    if ctx.counts.get("stopped"):
        return []
    started = time.monotonic()
    with session_factory() as session:
        claimed = outbox.claim_due(session, ctx.now, lease_from=ctx.clock())
        session.commit()
    metrics.observe_claim(time.monotonic() - started, len(claimed))
    return claimed


def _send_claimed(session_factory, claimed: list[str], transport, ctx: _Context) -> None:
    try:
        with transport.open() as connection:
            ctx.connection = connection
            for start in range(0, len(claimed), COMMIT_EVERY):
                _send_batch(session_factory, claimed[start : start + COMMIT_EVERY], ctx)
    except BatchStopped:
        ctx.counts["released"] += _release_unsent(session_factory, claimed, None)
        ctx.counts["stopped"] = 1  # the relay refused us: no more chunks this run
    except TransportError:
        _release_unsent(session_factory, claimed, None)  # nothing reached DATA
        raise
    except BaseException:
        # the row in flight may have been delivered: leave it to expire into `unknown`
        _release_unsent(session_factory, claimed, ctx.in_flight)
        raise


def _release_unsent(session_factory, claimed: list[str], keep: str | None) -> int:
    """Back to the queue: claimed rows still `sending` (except `keep`)."""
    with session_factory() as session:
        count = outbox.release(session, [i for i in claimed if i != keep])
        session.commit()
    return count


def _send_batch(session_factory, ids: list[str], ctx: _Context) -> None:
    """Send a batch reading only, then record every outcome in one short transaction."""
    settlements: list[Settlement] = []
    with session_factory() as session:
        outbox.arm(session, ids, ctx.clock())  # from here on, a crash means `unknown`
        session.commit()
        try:
            for work in _load(session, ids):
                settlements.append(_send_row(session, work, ctx))
                if settlements[-1].pause_workflow:
                    break
        finally:
            session.rollback()  # end the read transaction before writing
            _record(session, settlements, ctx)
            session.commit()
    if settlements and settlements[-1].pause_workflow:
        raise BatchStopped


@dataclass
class _Work:
    """One claimed row with what sending it needs, decrypted for this batch only."""

    row: OutboxMessage
    workflow: Workflow
    profile: dict
    facets: dict


def _load(session: Session, ids: list[str]) -> list[_Work]:
    """The batch's rows, workflows, profiles and consent facets in a few queries.

    Consent and suppression are read now, after the claim: a change committed before this
    point is honoured. (Per-row `load_profile`/`facets_for` cost ~15 ms a row here.)
    """
    rows = {r.id: r for r in session.scalars(
        select(OutboxMessage).where(OutboxMessage.id.in_(ids)))}
    patient_ids = {r.patient_id for r in rows.values()}
    patients = list(session.scalars(select(Patient).where(Patient.id.in_(patient_ids))))
    profiles, facets = _decrypt_patients(session, patients)
    return [
        _Work(rows[i], session.get(Workflow, rows[i].workflow_id), profiles[rows[i].patient_id],
              facets[rows[i].patient_id])
        for i in ids if i in rows and rows[i].patient_id in profiles
    ]


def _decrypt_patients(session: Session, patients: list[Patient]) -> tuple[dict, dict]:
    """{patient id: profile} and {patient id: facet row} (as `facets_for` shapes it)."""
    ring = key_ring()
    indexes = {p.email_bidx for p in patients if p.email_bidx}
    suppressed = set(session.scalars(
        select(Suppression.email_bidx).where(Suppression.email_bidx.in_(indexes))
    )) if indexes else set()
    profiles, triples = {}, []
    for p in patients:
        stored = ring.decrypt_json(p.profile_enc, "patients", "profile_enc", p.id)
        profiles[p.id] = {**empty_profile(), **stored}
        triples.append((p.id, ring.decrypt_json(p.facets_enc, "patients", "facets_enc", p.id),
                        p.email_bidx in suppressed))
    frame = frame_from_rows(triples) if triples else None
    facets = {} if frame is None else {
        pid: {"patient_id": pid, **record}
        for pid, record in zip(frame.index, frame.to_dict("records"), strict=True)
    }
    return profiles, facets


def _send_row(session: Session, work: _Work, ctx: _Context) -> Settlement:
    """Deliver one claimed row (reads only); returns what to record."""
    row, workflow, profile = work.row, work.workflow, work.profile
    reason = skip_reason(work.facets, workflow.purpose, ctx.as_of)
    if reason is None and not profile.get("email"):
        reason = "no_email"
    if reason:
        return Settlement(row.id, OutboxStatus.SKIPPED, reason)
    try:
        rendered = render_message(ctx.template(session, workflow, row.step_index), profile,
                                  ctx.base_url, ctx.org_name)
    except MissingMergeField as exc:
        return Settlement(row.id, OutboxStatus.SKIPPED, str(exc))
    raw = build_mime(
        rendered, sender=ctx.sender, recipient=profile["email"],
        display_name=f"{profile.get('first_name') or ''} {profile.get('last_name') or ''}",
        message_id=row.message_id, date=ctx.now,
    )
    ctx.in_flight = row.id
    delivery = ctx.connection.send(ctx.envelope_from, profile["email"], raw)
    ctx.in_flight = None
    return _settlement(row, workflow, profile["email"], delivery, rendered, ctx)


def _settlement(row: OutboxMessage, workflow: Workflow, email: str, delivery: Delivery,
                rendered: Rendered, ctx: _Context) -> Settlement:
    done = Settlement(row.id, OutboxStatus.QUEUED, delivery.detail, attempted=True)
    match delivery.outcome:
        case Outcome.SENT:
            done.status, done.error, done.rendered = OutboxStatus.SENT, "", rendered
        case Outcome.FAILED:
            done.status, done.suppress_email = OutboxStatus.FAILED, email
        case Outcome.UNKNOWN:
            done.status, done.error = OutboxStatus.UNKNOWN, "connection lost after DATA"
        case Outcome.RETRY:
            done.retry_at = outbox.retry_at(ctx.now, row.attempts + 1)
            if done.retry_at is None:
                done.status, done.error = OutboxStatus.FAILED, f"gave up: {delivery.detail}"
        case Outcome.RELAY_ERROR:
            done.error, done.pause_workflow = f"relay refused: {delivery.detail}", workflow.id
    return done


def _record(session: Session, settlements: list[Settlement], ctx: _Context) -> None:
    ids = [done.row_id for done in settlements]
    rows = {r.id: r for r in session.scalars(
        select(OutboxMessage).where(OutboxMessage.id.in_(ids)))} if ids else {}
    for done in settlements:
        row = rows[done.row_id]
        row.status, row.last_error, row.lease_until = done.status, done.error, None
        row.attempts += int(done.attempted)
        if done.status is OutboxStatus.SENT:
            row.sent_at = ctx.now
            _record_tokens(session, row, done.rendered)
        if done.retry_at:
            row.due_at = done.retry_at
            ctx.counts["retry"] += 1
        if done.suppress_email:
            suppress(session, done.suppress_email, "hard_bounce")
        if done.pause_workflow:
            _pause(session, done.pause_workflow, done.error)
        elif done.status is not OutboxStatus.QUEUED:
            ctx.counts[str(done.status)] += 1


def _record_tokens(session: Session, row: OutboxMessage, rendered: Rendered) -> None:
    row.open_token_hash = links.token_hash(rendered.open_token) if rendered.open_token else None
    row.unsubscribe_token_hash = links.token_hash(rendered.unsubscribe_token)
    links.register_links(session, row.id, rendered.links)


def _pause(session: Session, workflow_id: str, error: str) -> None:
    """The relay refused us: pause the workflow and alert (the log is the alert for now)."""
    workflow = session.get(Workflow, workflow_id)
    if workflow.status == WorkflowStatus.ACTIVE:
        set_status(session, workflow, WorkflowStatus.PAUSED, actor="sender")
    current_app.logger.error("workflow %s paused: %s", workflow_id, error)
