"""Shared set-up for campaign tests: a segment of everyone, templates, a launched drip."""

from __future__ import annotations

from datetime import UTC, datetime

from campaigns import service
from segments.service import create_segment, refresh_membership

NOW = datetime(2023, 12, 31, 15, 0, tzinfo=UTC)
EVERYONE = {"field": "age", "op": "gte", "value": 0}
HTML = (
    '<html><body><p>Hi {{ first_name | default("there", true) }},</p>'
    '<p><a href="https://portal.example.org/appointments?x=1&amp;y=2">Book now</a> or '
    '<a href="mailto:care@example.org">write to us</a>.</p>'
    '<p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p></body></html>'
)
TEXT = 'Hi {{ first_name | default("there", true) }},\nBook: https://portal.example.org/appointments\n'
SUBJECT = 'Time for your check-up, {{ first_name | default("there", true) }}'


def everyone_segment(session, now=NOW, name="everyone"):
    segment = create_segment(session, name, EVERYONE)
    refresh_membership(session, segment, now)
    return segment


def launched_workflow(session, steps=None, now=NOW, subject=SUBJECT, html=HTML, text=TEXT,
                      name="Check-up"):
    """Templates + a drip over everyone, launched at `now`; the caller commits."""
    service.create_template(session, "day0", subject, html, text)
    service.create_template(session, "day3", "A quick reminder", html, text)
    segment = everyone_segment(session, now)
    steps = steps or [{"template": "day0", "delay_days": 0}, {"template": "day3", "delay_days": 3}]
    workflow = service.create_workflow(session, name, segment, steps)
    service.launch_workflow(session, workflow, now)
    return workflow
