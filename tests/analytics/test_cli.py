"""`flask analytics summary`: one JSON object with --json, a table otherwise."""

from __future__ import annotations

import json

from analytics.models import EngagementEvent
from tests.analytics.builders import SENT_AT, send_message


def test_summary_json_prints_one_object_with_exact_counts(session, runner):
    for index in range(3):
        sent = send_message(session, segment="Hypertension")
        if index == 0:
            session.add(EngagementEvent(outbox_id=sent.message.id, kind="click",
                                        occurred_at=SENT_AT, user_agent_class="browser"))
    session.commit()
    result = runner.invoke(args=["analytics", "summary", "--json", "--as-of", "2023-12-31"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["as_of"] == "2024-01-01T05:59:59Z"
    assert data["segments"] == [{
        "segment": "Hypertension", "sent": 3, "unique_opens": 1, "clicks": 1, "conversions": 0,
        "machine_opens": 0, "scanner_clicks": 0, "open_rate": 0.3333, "click_rate": 0.3333,
        "conversion_rate": 0.0,
    }]
    assert data["totals"]["sent"] == 3


def test_summary_table_lists_segments_and_totals(session, runner):
    send_message(session, segment="Asthma")
    session.commit()
    result = runner.invoke(args=["analytics", "summary"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["Segment", "Sent", "Opens", "Clicks", "Conversions",
                                "Machine", "opens", "Scanner", "clicks"]
    assert lines[1].split() == ["Asthma", "1", "0", "0", "0", "0", "0"]
    assert lines[2].split()[:3] == ["All", "segments", "1"]


def test_summary_refuses_a_bad_date_as_usage_error(runner):
    result = runner.invoke(args=["analytics", "summary", "--as-of", "31/12/2023"])
    assert result.exit_code == 2
