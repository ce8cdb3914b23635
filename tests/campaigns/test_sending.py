"""Sending through the real development SMTP server over verified STARTTLS."""

from __future__ import annotations

import email
import re
from datetime import timedelta
from email import policy

import pytest
from sqlalchemy import func, select

from campaigns.links import token_hash
from campaigns.models import OutboxMessage, TrackedLink, Workflow
from campaigns.sending import send_due
from core.crypto import key_ring
from core.db import new_session
from core.dev_smtp import DevSmtpServer
from core.mail_transport import SmtpTransport, TransportError
from core.models import AuditEvent, CaughtMessage
from patients.consent import suppress
from tests.core.smtp_helpers import ScriptedHandler, scripted_server
from tests.factories import make_patient

from .helpers import NOW, launched_workflow

BASE = "http://localhost:5000"


@pytest.fixture
def smtp(app):
    server = DevSmtpServer(app).start()
    app.config.update(SMTP_URL=f"smtp://localhost:{server.port}", SMTP_CA_FILE=server.ca_file)
    yield server
    server.stop()


@pytest.fixture
def transport(app, smtp):
    return SmtpTransport.from_config(app.config)


def caught(session) -> list[email.message.EmailMessage]:
    ring = key_ring()
    rows = session.scalars(select(CaughtMessage)).all()
    return [
        email.message_from_bytes(ring.decrypt(r.raw, "caught_messages", "raw", r.id),
                                 policy=policy.default)
        for r in rows
    ]


def statuses(session) -> list[str]:
    session.expire_all()
    return sorted(session.scalars(select(OutboxMessage.status)))


def test_sent_message_arrives_over_tls_with_tracking_and_unsubscribe(session, transport):
    make_patient(session, first_name="Maya", email="maya@example.org")
    launched_workflow(session)
    session.commit()

    counts = send_due(new_session, NOW + timedelta(minutes=1), transport, BASE)

    assert counts["sent"] == 1 and counts["failed"] == counts["unknown"] == 0
    assert session.scalar(select(CaughtMessage.tls)) is True
    [msg] = caught(session)
    assert msg.get_all("Subject") == ["Time for your check-up, Maya"]
    assert msg["To"].addresses[0].addr_spec == "maya@example.org"
    assert msg.get_content_type() == "multipart/alternative"
    text, html = (part.get_content() for part in msg.iter_parts())
    assert text.startswith("Hi Maya,")
    assert re.fullmatch(rf"<{BASE}/u/[A-Za-z0-9_-]{{32}}>", msg["List-Unsubscribe"].strip())
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    row = session.scalars(select(OutboxMessage).where(OutboxMessage.status == "sent")).one()
    assert msg["Message-ID"] == row.message_id
    _assert_tracking(session, html, row, msg["List-Unsubscribe"])


def _assert_tracking(session, html: str, row: OutboxMessage, unsubscribe: str) -> None:
    clicks = re.findall(rf'href="{BASE}/t/c/([A-Za-z0-9_-]+)"', html)
    assert len(clicks) == 1
    assert 'href="mailto:care@example.org"' in html
    assert "portal.example.org" not in html
    link = session.scalars(select(TrackedLink).where(TrackedLink.outbox_id == row.id)).one()
    assert link.token_hash == token_hash(clicks[0])
    url = key_ring().decrypt_json(link.url_enc, "tracked_links", "url_enc", link.id)
    assert url == "https://portal.example.org/appointments?x=1&y=2"
    pixel = re.search(rf'src="{BASE}/t/o/([A-Za-z0-9_-]+)\.gif"', html).group(1)
    assert row.open_token_hash == token_hash(pixel)
    unsubscribe_token = unsubscribe.strip().rstrip(">").rsplit("/", 1)[1]
    assert row.unsubscribe_token_hash == token_hash(unsubscribe_token)


def test_send_due_twice_sends_each_row_once(session, transport):
    for _ in range(3):
        make_patient(session)
    launched_workflow(session)
    session.commit()
    first = send_due(new_session, NOW + timedelta(minutes=1), transport, BASE)
    second = send_due(new_session, NOW + timedelta(minutes=2), transport, BASE)
    later = send_due(new_session, NOW + timedelta(days=3, minutes=1), transport, BASE)
    again = send_due(new_session, NOW + timedelta(days=3, minutes=2), transport, BASE)
    assert (first["sent"], second["sent"], later["sent"], again["sent"]) == (3, 0, 3, 0)
    assert session.scalar(select(func.count()).select_from(CaughtMessage)) == 6
    assert statuses(session) == ["sent"] * 6
    ids = [m["Message-ID"] for m in caught(session)]
    assert len(set(ids)) == 6


def test_consent_is_rechecked_when_claimed(session, transport):
    make_patient(session, email="stays@example.org")
    make_patient(session, email="leaves@example.org")
    launched_workflow(session)
    suppress(session, "Leaves@Example.org", "unsubscribed")
    session.commit()
    counts = send_due(new_session, NOW + timedelta(minutes=1), transport, BASE)
    assert (counts["sent"], counts["skipped"]) == (1, 1)
    skipped = session.scalars(select(OutboxMessage).where(OutboxMessage.status == "skipped"))
    assert [r.last_error for r in skipped] == ["suppressed"]
    assert [str(m["To"].addresses[0].addr_spec) for m in caught(session)] == ["stays@example.org"]


def test_sends_are_audited_as_counts_only(session, transport):
    make_patient(session, email="audit@example.org", first_name="Zed")
    launched_workflow(session)
    session.commit()
    send_due(new_session, NOW + timedelta(minutes=1), transport, BASE)
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "outbox.send")).one()
    assert '"sent": 1' in event.details
    assert "audit@example.org" not in event.details and "Zed" not in event.details


def test_server_without_starttls_refuses_and_requeues(session, tmp_path):
    make_patient(session)
    launched_workflow(session)
    session.commit()
    handler = ScriptedHandler()
    with scripted_server(tmp_path / "plain", handler, starttls=False) as (port, ca_file):
        plain = SmtpTransport.from_config(
            {"SMTP_URL": f"smtp://localhost:{port}", "SMTP_CA_FILE": ca_file})
        with pytest.raises(TransportError, match="STARTTLS"):
            send_due(new_session, NOW + timedelta(minutes=1), plain, BASE)
    assert handler.received == []
    assert statuses(session) == ["queued", "queued"]


def test_hard_bounce_fails_and_suppresses(session, app, tmp_path):
    make_patient(session, email="gone@example.org")
    launched_workflow(session, steps=[{"template": "day0", "delay_days": 0}])
    session.commit()
    handler = ScriptedHandler(rcpt="550 5.1.1 no such mailbox")
    with scripted_server(tmp_path / "bounce", handler) as (port, ca_file):
        bouncing = SmtpTransport.from_config(
            {"SMTP_URL": f"smtp://localhost:{port}", "SMTP_CA_FILE": ca_file})
        counts = send_due(new_session, NOW + timedelta(minutes=1), bouncing, BASE)
    assert counts["failed"] == 1
    from patients.consent import is_suppressed

    assert is_suppressed(session, "gone@example.org")


def test_relay_refusal_pauses_workflow_and_keeps_rows_queued(session, tmp_path):
    for _ in range(2):
        make_patient(session)
    workflow = launched_workflow(session, steps=[{"template": "day0", "delay_days": 0}])
    session.commit()
    handler = ScriptedHandler(mail="554 5.7.1 sender blocked")
    with scripted_server(tmp_path / "relay", handler) as (port, ca_file):
        blocked = SmtpTransport.from_config(
            {"SMTP_URL": f"smtp://localhost:{port}", "SMTP_CA_FILE": ca_file})
        counts = send_due(new_session, NOW + timedelta(minutes=1), blocked, BASE)
    assert counts["sent"] == 0 and counts["released"] == 1
    assert statuses(session) == ["queued", "queued"]
    assert session.get(Workflow, workflow.id).status == "paused"


def test_connection_lost_after_data_is_unknown_and_never_resent(session, tmp_path):
    make_patient(session)
    launched_workflow(session, steps=[{"template": "day0", "delay_days": 0}])
    session.commit()
    handler = ScriptedHandler(drop_after_data=True)
    with scripted_server(tmp_path / "drop", handler) as (port, ca_file):
        dropping = SmtpTransport.from_config(
            {"SMTP_URL": f"smtp://localhost:{port}", "SMTP_CA_FILE": ca_file})
        first = send_due(new_session, NOW + timedelta(minutes=1), dropping, BASE)
        second = send_due(new_session, NOW + timedelta(minutes=2), dropping, BASE)
    assert first["unknown"] == 1 and second == {k: 0 for k in second}
    assert statuses(session) == ["unknown"]


def test_expired_lease_becomes_unknown(session, transport):
    make_patient(session)
    launched_workflow(session, steps=[{"template": "day0", "delay_days": 0}])
    row = session.scalars(select(OutboxMessage)).one()
    row.status, row.lease_until = "sending", NOW - timedelta(minutes=1)
    session.commit()
    counts = send_due(new_session, NOW, transport, BASE)
    assert (counts["unknown"], counts["sent"]) == (1, 0)
    assert statuses(session) == ["unknown"]


def test_b19_missing_required_field_skips_one_recipient_and_sends_the_rest(session, transport):
    make_patient(session, first_name="Maya", email="m1@example.com",
                 traits={"screening_type": "mammogram"})
    make_patient(session, first_name=None, email="m4@example.com",
                 traits={"screening_type": "bone density"})
    make_patient(session, first_name="Jo", email="m5@example.com", traits={})
    launched_workflow(
        session, steps=[{"template": "day0", "delay_days": 0}],
        subject='{{ first_name | default("there", true) }}, it is time for your screening',
        text='Hi {{ first_name | default("there", true) }},\n'
             "Please book your {{ screening_type }} screening.",
    )
    session.commit()
    counts = send_due(new_session, NOW + timedelta(minutes=1), transport, BASE)
    assert (counts["sent"], counts["skipped"]) == (2, 1)
    skipped = session.scalars(select(OutboxMessage).where(OutboxMessage.status == "skipped"))
    assert [r.last_error for r in skipped] == ["missing merge field: screening_type (no fallback)"]
    subjects = sorted(m["Subject"] for m in caught(session))
    assert subjects == ["Maya, it is time for your screening",
                        "there, it is time for your screening"]
    for msg in caught(session):
        text = msg.get_body(("plain",)).get_content()
        assert "Hi ," not in text and "None" not in text
