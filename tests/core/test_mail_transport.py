"""SMTP transport: STARTTLS mandatory and verified, one connection per batch, outcomes."""

from __future__ import annotations

import pytest

from core.errors import ConfigError
from core.mail_transport import (
    Outcome,
    SmtpSettings,
    SmtpTransport,
    TransportError,
    classify,
    parse_smtp_url,
)
from tests.core.smtp_helpers import ScriptedHandler, scripted_server

RAW = b"From: a@example.org\r\nTo: b@example.org\r\nSubject: hi\r\n\r\nbody\r\n"


def transport(port: int, ca_file: str | None) -> SmtpTransport:
    return SmtpTransport(SmtpSettings(host="localhost", port=port, ca_file=ca_file, timeout=10))


def test_parse_smtp_url_reads_credentials_and_port():
    settings = parse_smtp_url("smtp://mailer:p%40ss@relay.example.org:2525", "/ca.pem")
    assert (settings.host, settings.port) == ("relay.example.org", 2525)
    assert (settings.username, settings.password, settings.ca_file) == ("mailer", "p@ss", "/ca.pem")
    assert parse_smtp_url("smtp://relay.example.org").port == 587


def test_parse_smtp_url_refuses_other_schemes():
    with pytest.raises(ConfigError):
        parse_smtp_url("http://relay.example.org")


def test_from_config_uses_ca_file():
    config = {"SMTP_URL": "smtp://localhost:8025", "SMTP_CA_FILE": "/tmp/ca.pem"}
    assert SmtpTransport.from_config(config).settings.ca_file == "/tmp/ca.pem"


@pytest.mark.parametrize(
    ("stage", "code", "reply", "expected"),
    [
        ("data", 250, b"2.0.0 OK", Outcome.SENT),
        ("rcpt", 451, b"4.3.0 try later", Outcome.RETRY),
        ("mail", 421, b"", Outcome.RETRY),
        ("rcpt", 550, b"5.1.1 no such mailbox", Outcome.FAILED),
        ("rcpt", 553, b"5.1.3 bad address syntax", Outcome.FAILED),
        ("rcpt", 554, b"5.7.1 relay access denied", Outcome.RELAY_ERROR),
        ("mail", 550, b"5.1.8 bad sender domain", Outcome.RELAY_ERROR),
        ("data", 554, b"5.7.1 rejected as spam", Outcome.RELAY_ERROR),
        ("rcpt", 550, b"no enhanced code", Outcome.RELAY_ERROR),
    ],
)
def test_classify_replies(stage, code, reply, expected):
    assert classify(stage, code, reply)[0] is expected


def test_batch_reuses_one_verified_tls_connection(tmp_path):
    handler = ScriptedHandler()
    with scripted_server(tmp_path, handler) as (port, ca_file):
        with transport(port, ca_file).open() as conn:
            results = [conn.send("a@example.org", f"r{i}@example.org", RAW) for i in range(3)]
            assert conn.tls is True
    assert [r.outcome for r in results] == [Outcome.SENT] * 3
    assert [rcpts for rcpts, _ in handler.received] == [
        ["r0@example.org"], ["r1@example.org"], ["r2@example.org"]
    ]


def test_server_without_starttls_gets_nothing(tmp_path):
    handler = ScriptedHandler()
    with scripted_server(tmp_path, handler, starttls=False) as (port, ca_file):
        with pytest.raises(TransportError, match="does not offer STARTTLS"):
            with transport(port, ca_file).open() as conn:
                conn.send("a@example.org", "b@example.org", RAW)
    assert handler.received == []


def test_untrusted_certificate_is_refused(tmp_path):
    handler = ScriptedHandler()
    with scripted_server(tmp_path, handler) as (port, _ca_file):
        with pytest.raises(TransportError, match="failed verification"):
            transport(port, None).open().__enter__()
    assert handler.received == []


@pytest.mark.parametrize(
    ("handler", "outcome", "suppress"),
    [
        (ScriptedHandler(rcpt="550 5.1.1 no such mailbox"), Outcome.FAILED, True),
        (ScriptedHandler(rcpt="451 4.3.0 try again later"), Outcome.RETRY, False),
        (ScriptedHandler(mail="554 5.7.1 sender blocked"), Outcome.RELAY_ERROR, False),
        (ScriptedHandler(drop_after_data=True), Outcome.UNKNOWN, False),
    ],
)
def test_refusals_are_classified_per_recipient(tmp_path, handler, outcome, suppress):
    with scripted_server(tmp_path, handler) as (port, ca_file):
        with transport(port, ca_file).open() as conn:
            delivery = conn.send("a@example.org", "gone@example.org", RAW)
    assert delivery.outcome is outcome
    assert delivery.suppress is suppress
    assert "gone@example.org" not in delivery.detail


def test_connection_is_reopened_after_a_drop(tmp_path):
    handler = ScriptedHandler(drop_after_data=True)
    with scripted_server(tmp_path, handler) as (port, ca_file):
        with transport(port, ca_file).open() as conn:
            first = conn.send("a@example.org", "b@example.org", RAW)
            handler.drop_after_data = False
            second = conn.send("a@example.org", "c@example.org", RAW)
    assert (first.outcome, second.outcome) == (Outcome.UNKNOWN, Outcome.SENT)
    assert handler.received[0][0] == ["c@example.org"]
