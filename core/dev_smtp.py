"""The development SMTP server: catches every message into the encrypted dev mailbox.

It runs aiosmtpd in a background thread, requires STARTTLS before MAIL (so development
exercises the same verified-TLS path as production) and presents a self-signed
certificate for `localhost`, generated once under `<instance>/dev-smtp/` and reused.
Each received message becomes a `CaughtMessage` whose raw bytes are encrypted like PHI.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import os
import socket
import ssl
from pathlib import Path

from aiosmtpd.controller import Controller
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from flask import Flask

from core.clock import utcnow
from core.crypto import key_ring
from core.db import new_id, new_session
from core.models import CaughtMessage

CERT_NAME = "localhost.pem"
KEY_NAME = "localhost.key"


def ensure_certificate(folder: Path) -> tuple[Path, Path]:
    """The dev server's certificate and key, generated once (key file mode 0600)."""
    folder.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = folder / CERT_NAME, folder / KEY_NAME
    if cert_path.exists() and key_path.exists():
        return cert_path, key_path
    key = ec.generate_private_key(ec.SECP256R1())
    key_bytes = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    _write_private(key_path, key_bytes)
    cert_path.write_bytes(_self_signed(key).public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


def _write_private(path: Path, data: bytes) -> None:
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def _self_signed(key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    san = x509.SubjectAlternativeName(
        [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    )
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=825))
        .add_extension(san, critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_key_usage(), critical=True)
        .add_extension(ski, critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
        )
        .sign(key, hashes.SHA256())
    )


def _key_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True, content_commitment=False, key_encipherment=False,
        data_encipherment=False, key_agreement=True, key_cert_sign=True, crl_sign=False,
        encipher_only=False, decipher_only=False,
    )


class CatchingHandler:
    """aiosmtpd handler: stores each message, encrypted, in an app context of its own."""

    def __init__(self, app: Flask):
        self.app = app

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 (aiosmtpd API)
        store_message(self.app, envelope.original_content or envelope.content,
                      tls=session.ssl is not None)
        return "250 OK: message caught"


def store_message(app: Flask, raw: bytes, tls: bool) -> str:
    """Encrypt and store one received message; returns its id."""
    with app.app_context():
        row_id = new_id()
        raw_enc = key_ring().encrypt(raw, "caught_messages", "raw", row_id)
        with new_session() as session:
            session.add(CaughtMessage(id=row_id, received_at=utcnow(), tls=tls, raw=raw_enc))
            session.commit()
    return row_id


class _BoundController(Controller):
    """A Controller serving on a socket we bound ourselves, so port 0 works."""

    def __init__(self, handler, sock: socket.socket, **kwargs):
        host, port = sock.getsockname()[:2]
        super().__init__(handler, hostname=host, port=port, **kwargs)
        self._sock = sock

    def _create_server(self):
        return self.loop.create_server(self._factory_invoker, sock=self._sock)


class DevSmtpServer:
    """`DevSmtpServer(app).start()`: a STARTTLS-only SMTP catcher on `localhost:.port`."""

    def __init__(self, app: Flask, host: str = "localhost", port: int = 0):
        self.app = app
        self.host = host
        folder = Path(app.instance_path) / "dev-smtp"
        cert, key = ensure_certificate(folder)
        self.ca_file = str(cert)
        self._tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._tls.load_cert_chain(cert, key)
        self._requested_port = port
        self._controller: _BoundController | None = None
        self.port: int | None = None

    def start(self) -> DevSmtpServer:
        # aiosmtpd logs envelope addresses at INFO: keep recipients out of the logs
        logging.getLogger("mail.log").setLevel(logging.WARNING)
        sock = _listen(self.host, self._requested_port)
        self.port = sock.getsockname()[1]
        self._controller = _BoundController(
            CatchingHandler(self.app), sock, server_hostname="localhost",
            tls_context=self._tls, require_starttls=True,
        )
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> DevSmtpServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _listen(host: str, port: int) -> socket.socket:
    """A listening socket on the first IPv4 (else IPv6) address of `host`."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    infos.sort(key=lambda info: info[0] != socket.AF_INET)
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(address)
    sock.listen(100)
    sock.setblocking(False)
    return sock
