"""Behavioural events from the CDP: stored encrypted, idempotent on the CDP's messageId."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from core.crypto import key_ring
from core.db import new_id
from patients.models import PatientEvent

EVENT_COLUMNS = ["patient_id", "name", "occurred_at", "properties"]


def new_message_indexes(session: Session, events: list[dict]) -> dict[str, dict]:
    """{blind index: event} for the events not stored yet (duplicates in `events` dropped)."""
    ring = key_ring()
    wanted: dict[str, dict] = {}
    for event in events:
        wanted.setdefault(ring.blind_index("message_id", str(event["message_id"])), event)
    keys = list(wanted)
    for start in range(0, len(keys), 500):
        query = select(PatientEvent.message_id_bidx).where(
            PatientEvent.message_id_bidx.in_(keys[start:start + 500])
        )
        for known in session.scalars(query):
            wanted.pop(known, None)
    return wanted


def event_rows(fresh: dict[str, dict]) -> list[dict]:
    ring, rows = key_ring(), []
    for bidx, event in fresh.items():
        row_id = new_id()
        data = {"name": event["name"], "properties": event.get("properties") or {}}
        rows.append({
            "id": row_id, "patient_id": event["patient_id"], "message_id_bidx": bidx,
            "occurred_at": event["occurred_at"],
            "data_enc": ring.encrypt_json(data, "patient_events", "data_enc", row_id),
        })
    return rows


def store_events(session: Session, events: list[dict], dry_run: bool = False) -> int:
    """Store new events (patient_id, message_id, name, occurred_at, properties); the count."""
    rows = event_rows(new_message_indexes(session, events))
    if rows and not dry_run:
        session.execute(insert(PatientEvent), rows)
    return len(rows)


def events_frame(session: Session) -> pd.DataFrame:
    """Every stored event: patient_id, name, occurred_at (UTC Timestamp), properties."""
    ring = key_ring()
    records = []
    query = select(PatientEvent.id, PatientEvent.patient_id, PatientEvent.occurred_at,
                   PatientEvent.data_enc).order_by(PatientEvent.occurred_at)
    for row_id, patient_id, occurred_at, blob in session.execute(query):
        data = ring.decrypt_json(blob, "patient_events", "data_enc", row_id)
        records.append((patient_id, data["name"], occurred_at, data.get("properties") or {}))
    frame = pd.DataFrame(records, columns=EVENT_COLUMNS)
    frame["patient_id"] = frame["patient_id"].astype(object)
    frame["name"] = frame["name"].astype(object)
    frame["occurred_at"] = pd.to_datetime(frame["occurred_at"], utc=True)
    return frame
