"""Engagement metrics per segment: sent, unique opens, clicks and attributed conversions.

Owns the definitions the dashboard, the CLI and exports share:

- sent: outbox messages in state `sent` with `sent_at` at or before "as of";
- unique_opens: sent messages with a human open or a human click (a click implies an
  open); machine opens (privacy proxies) and scanner clicks are counted apart;
- clicks: sent messages with at least one human click;
- conversions: clicked messages whose patient has a conversion event (CONVERSION_EVENTS)
  from the moment of a human click up to CONVERSION_WINDOW_DAYS later (and not after
  "as of").

Every count is of distinct messages, so each is a subset of `sent` and no rate can pass
100%. Hits are classified here, at report time, from their stored user-agent class.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pandas as pd
from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from analytics import classify
from analytics.models import EngagementEvent
from campaigns.models import OutboxMessage, OutboxStatus
from core.clock import as_of_instant, isoz
from patients.events import events_frame
from segments.models import Segment

CONVERSION_EVENTS = ("Appointment Booked", "Prescription Filled", "Form Submitted")
COUNTS = ("sent", "unique_opens", "clicks", "conversions", "machine_opens", "scanner_clicks")
RATES = {"open_rate": "unique_opens", "click_rate": "clicks", "conversion_rate": "conversions"}


def summary(session: Session, as_of: str | date | datetime | None = None) -> dict:
    """Per-segment and total engagement up to `as_of` (end of that day; None = now)."""
    instant = _instant(as_of)
    window = int(current_app.config.get("CONVERSION_WINDOW_DAYS", 7))
    sent = _sent_frame(session, instant)
    hits = _hits_frame(session, instant)
    converted = _converted(session, hits, sent, instant, timedelta(days=window))
    per_message = _per_message(sent, hits, converted)
    segments = [
        _with_rates({"segment": name, **_counts(group)})
        for name, group in per_message.groupby("segment", sort=True)
    ]
    return {
        "as_of": isoz(instant),
        "conversion_window_days": window,
        "segments": segments,
        "totals": _with_rates(_counts(per_message)),
    }


def _instant(as_of) -> datetime:
    if isinstance(as_of, datetime):
        return as_of
    return as_of_instant(as_of, current_app.config["ORG_TIMEZONE"])


def _sent_frame(session: Session, instant: datetime) -> pd.DataFrame:
    query = (
        select(OutboxMessage.id, OutboxMessage.patient_id, Segment.name)
        .join(Segment, Segment.id == OutboxMessage.segment_id)
        .where(OutboxMessage.status == OutboxStatus.SENT, OutboxMessage.sent_at <= instant)
    )
    rows = session.execute(query).all()
    return pd.DataFrame(rows, columns=["outbox_id", "patient_id", "segment"], dtype=object)


def _hits_frame(session: Session, instant: datetime) -> pd.DataFrame:
    """Open and click hits on sent messages, each with its report-time classification."""
    query = (
        select(
            EngagementEvent.outbox_id, EngagementEvent.kind,
            EngagementEvent.occurred_at, EngagementEvent.user_agent_class,
        )
        .join(OutboxMessage, OutboxMessage.id == EngagementEvent.outbox_id)
        .where(
            OutboxMessage.status == OutboxStatus.SENT, OutboxMessage.sent_at <= instant,
            EngagementEvent.kind.in_(("open", "click")), EngagementEvent.occurred_at <= instant,
        )
    )
    rows = session.execute(query).all()
    hits = pd.DataFrame(rows, columns=["outbox_id", "kind", "occurred_at", "ua_class"])
    pairs = zip(hits["kind"], hits["ua_class"], strict=True)
    hits["classification"] = [classify.classification(kind, ua) for kind, ua in pairs]
    hits["occurred_at"] = pd.to_datetime(hits["occurred_at"], utc=True)
    return hits


def _converted(
    session: Session, hits: pd.DataFrame, sent: pd.DataFrame, instant: datetime,
    window: timedelta,
) -> set[str]:
    """Messages with a conversion event by their patient within `window` of a human click."""
    clicks = hits[(hits["kind"] == "click") & (hits["classification"] == classify.HUMAN)]
    if clicks.empty:
        return set()
    clicks = clicks.merge(sent[["outbox_id", "patient_id"]], on="outbox_id")
    events = _conversion_events(session, instant)
    pairs = clicks.merge(events, on="patient_id")
    inside = (pairs["event_at"] >= pairs["occurred_at"]) & (
        pairs["event_at"] <= pairs["occurred_at"] + window
    )
    return set(pairs.loc[inside, "outbox_id"])


def _conversion_events(session: Session, instant: datetime) -> pd.DataFrame:
    names = current_app.config.get("CONVERSION_EVENTS", CONVERSION_EVENTS)
    frame = events_frame(session)
    frame = frame[frame["name"].isin(list(names))]
    at = pd.to_datetime(frame["occurred_at"], utc=True)
    frame = pd.DataFrame({"patient_id": frame["patient_id"].astype(object), "event_at": at})
    return frame[frame["event_at"] <= pd.Timestamp(instant)]


def _per_message(sent: pd.DataFrame, hits: pd.DataFrame, converted: set[str]) -> pd.DataFrame:
    """One row per sent message with a boolean per metric."""

    def having(kind: str, label: str) -> set[str]:
        match = hits[(hits["kind"] == kind) & (hits["classification"] == label)]
        return set(match["outbox_id"])

    human_clicks = having("click", classify.HUMAN)
    ids = sent["outbox_id"]
    return sent.assign(
        sent=True,
        unique_opens=ids.isin(having("open", classify.HUMAN) | human_clicks),
        clicks=ids.isin(human_clicks),
        conversions=ids.isin(converted & human_clicks),
        machine_opens=ids.isin(having("open", classify.MACHINE_OPEN)),
        scanner_clicks=ids.isin(having("click", classify.SCANNER_CLICK)),
    )


def _counts(frame: pd.DataFrame) -> dict:
    return {name: int(frame[name].sum()) if len(frame) else 0 for name in COUNTS}


def _with_rates(row: dict) -> dict:
    """Rates from unique counts (fractions 0..1), never above 1."""
    sent = row["sent"]
    for rate, count in RATES.items():
        row[rate] = round(min(row[count] / sent, 1.0), 4) if sent else 0.0
    return row
