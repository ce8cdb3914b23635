"""The development SMTP server: certificate, STARTTLS before MAIL, encrypted storage."""

from __future__ import annotations

import smtplib
import ssl
import stat

import pytest
from sqlalchemy import select

from core.crypto import key_ring
from core.db import get_session
from core.dev_smtp import DevSmtpServer, ensure_certificate
from core.models import CaughtMessage

RAW = b"From: a@example.org\r\nTo: b@example.org\r\nSubject: hi\r\n\r\nbody\r\n"


@pytest.fixture
def dev_server(app):
    server = DevSmtpServer(app).start()
    yield server
    server.stop()


def test_certificate_is_generated_once_with_private_key_mode_0600(tmp_path):
    cert, key = ensure_certificate(tmp_path / "dev-smtp")
    first = cert.read_bytes()
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    again, _ = ensure_certificate(tmp_path / "dev-smtp")
    assert again.read_bytes() == first


def test_message_over_verified_starttls_is_stored_encrypted(app, dev_server):
    assert dev_server.port > 0
    context = ssl.create_default_context(cafile=dev_server.ca_file)
    with smtplib.SMTP("localhost", dev_server.port, timeout=10) as smtp:
        smtp.starttls(context=context)
        smtp.sendmail("a@example.org", ["b@example.org"], RAW)
    with app.app_context():
        caught = get_session().scalars(select(CaughtMessage)).all()
        assert len(caught) == 1
        assert caught[0].tls is True
        assert b"Subject: hi" not in caught[0].raw
        plain = key_ring().decrypt(caught[0].raw, "caught_messages", "raw", caught[0].id)
    assert plain.replace(b"\r\n", b"\n") == RAW.replace(b"\r\n", b"\n")


def test_mail_before_starttls_is_refused(app, dev_server):
    with smtplib.SMTP("localhost", dev_server.port, timeout=10) as smtp:
        smtp.ehlo()
        code, reply = smtp.mail("a@example.org")
    assert code == 530
    assert b"STARTTLS" in reply


def test_certificate_does_not_verify_without_its_ca_file(dev_server):
    with smtplib.SMTP("localhost", dev_server.port, timeout=10) as smtp:
        with pytest.raises(ssl.SSLCertVerificationError):
            smtp.starttls(context=ssl.create_default_context())
