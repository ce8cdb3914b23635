"""Engagement fed back to the CDP: Segment `track` events that round-trip into the import."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from sqlalchemy import func, select

from analytics.engagement import record_click, record_open
from analytics.feedback import track_events
from campaigns.models import OutboxStatus
from cdp.service import import_paths
from patients.models import PatientEvent
from tests.analytics.builders import send_message
from tests.factories import make_patient

CLICKED = datetime(2023, 12, 2, 16, 0, tzinfo=UTC)


def _engagement(session):
    patient = make_patient(session, cdp_id="CDP-FEED-1")
    sent = send_message(session, patient=patient, links=("https://portal.example.org/a",))
    from campaigns.models import TrackedLink

    link = session.scalars(select(TrackedLink)).one()
    record_open(session, sent.message, "apple_mpp", CLICKED.replace(hour=15))
    record_click(session, link, "browser", CLICKED)
    bounced = send_message(session, patient=make_patient(session, cdp_id="CDP-FEED-2"),
                           status=OutboxStatus.FAILED)
    session.commit()
    return sent, bounced


def test_engagement_becomes_segment_track_events_keyed_by_cdp_id(session):
    _engagement(session)
    events = list(track_events(session))
    summary = [(e["event"], e["userId"], e["properties"].get("class")) for e in events]
    assert summary == [
        ("Email Bounced", "CDP-FEED-2", None),
        ("Email Delivered", "CDP-FEED-1", None),
        ("Email Opened", "CDP-FEED-1", "machine_open"),
        ("Email Link Clicked", "CDP-FEED-1", "human"),
        ("Email Opened", "CDP-FEED-1", "human"),  # the open a click implies
    ]
    assert all(e["type"] == "track" and e["messageId"].startswith("sendwell-") for e in events)
    assert len({e["messageId"] for e in events}) == len(events)
    assert [e["timestamp"] for e in events] == sorted(e["timestamp"] for e in events)


def test_since_keeps_later_events_only(session):
    _engagement(session)
    later = list(track_events(session, since=CLICKED))
    assert {e["event"] for e in later} == {"Email Link Clicked", "Email Opened"}


def test_export_round_trips_into_the_cdp_event_import(session, runner, tmp_path):
    _engagement(session)
    out = tmp_path / "engagement.ndjson"
    result = runner.invoke(args=["analytics", "export-events", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.stat().st_mode & 0o777 == 0o600
    exported = [json.loads(line) for line in out.read_text().splitlines()]
    first = import_paths(session, [out])
    assert (first["status"], first["events"], first["rejected"]) == ("completed",
                                                                    len(exported), 0)
    again = import_paths(session, [out])
    assert again["events"] == 0  # messageIds make the re-import a no-op
    stored = session.scalar(select(func.count()).select_from(PatientEvent))
    assert stored == len(exported)
