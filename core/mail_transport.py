"""Handing finished messages to the mail relay over SMTP, with TLS that is verified.

STARTTLS is mandatory: the context comes from `ssl.create_default_context` (certificate and
host name checked; `SMTP_CA_FILE` adds a trusted CA for a local server), and a server that
does not offer STARTTLS gets nothing. One connection carries a whole batch. Each send returns
a `Delivery` whose outcome tells the sender what to do with the outbox row:

- `sent`; `retry` (4xx: try again later); `failed` (recipient 5.1.x: bad mailbox, suppress);
- `relay_error` (any other 5xx: the relay refuses us — stop the batch, pause and alert);
- `unknown` (connection lost after DATA: the message may have been delivered — never resend).

Details carry SMTP codes only: server replies often echo the address, which is PHI.
"""

from __future__ import annotations

import re
import smtplib
import ssl
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import unquote, urlsplit

from core.errors import ConfigError, SendwellError

ENHANCED = re.compile(rb"^\s*([245])\.(\d{1,3})\.(\d{1,3})")
DEFAULT_PORT = 587


class TransportError(SendwellError):
    """The relay cannot be used safely (no STARTTLS, bad certificate, unreachable)."""


class Outcome(StrEnum):
    SENT = "sent"
    RETRY = "retry"
    FAILED = "failed"
    RELAY_ERROR = "relay_error"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Delivery:
    outcome: Outcome
    code: int = 250
    enhanced: str = ""
    tls: bool = True

    @property
    def suppress(self) -> bool:
        """A permanent mailbox failure: the address should not be mailed again."""
        return self.outcome is Outcome.FAILED

    @property
    def detail(self) -> str:
        return f"{self.code} {self.enhanced}".strip()


def classify(stage: str, code: int, reply: bytes) -> tuple[Outcome, str]:
    """Map an SMTP reply at `stage` (mail, rcpt, data) to an outcome and enhanced code."""
    match = ENHANCED.match(reply or b"")
    enhanced = b".".join(match.groups()).decode() if match else ""
    if 200 <= code < 300:
        return Outcome.SENT, enhanced
    if 400 <= code < 500:
        return Outcome.RETRY, enhanced
    if stage == "rcpt" and enhanced.startswith("5.1."):
        return Outcome.FAILED, enhanced
    return Outcome.RELAY_ERROR, enhanced


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    username: str | None = None
    password: str | None = None
    ca_file: str | None = None
    timeout: float = 30.0


def parse_smtp_url(url: str, ca_file: str | None = None) -> SmtpSettings:
    """`smtp://user:pass@host:port` into settings (the password is URL-decoded)."""
    parts = urlsplit(url)
    if parts.scheme != "smtp" or not parts.hostname:
        raise ConfigError("SENDWELL_SMTP_URL must look like smtp://user:pass@host:port")
    return SmtpSettings(
        host=parts.hostname,
        port=parts.port or DEFAULT_PORT,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        ca_file=ca_file or None,
    )


class SmtpTransport:
    """Opens verified-TLS SMTP connections to the configured relay."""

    def __init__(self, settings: SmtpSettings):
        self.settings = settings

    @classmethod
    def from_config(cls, config) -> SmtpTransport:
        return cls(parse_smtp_url(config["SMTP_URL"], config.get("SMTP_CA_FILE")))

    def tls_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.settings.ca_file)

    def open(self) -> SmtpConnection:
        """A connection for one batch (use it as a context manager)."""
        return SmtpConnection(self)


class SmtpConnection:
    """One SMTP session reused across a batch; reconnects after a dropped connection."""

    def __init__(self, transport: SmtpTransport):
        self.transport = transport
        self._smtp: smtplib.SMTP | None = None
        self.tls = False

    def __enter__(self) -> SmtpConnection:
        self._connect()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _connect(self) -> None:
        s = self.transport.settings
        try:
            smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
        except OSError as exc:
            raise TransportError(f"cannot reach the SMTP relay {s.host}:{s.port}") from exc
        try:
            self._secure(smtp)
        except BaseException:
            smtp.close()
            raise
        self._smtp, self.tls = smtp, True

    def _secure(self, smtp: smtplib.SMTP) -> None:
        s = self.transport.settings
        smtp.ehlo()
        if not smtp.has_extn("starttls"):
            raise TransportError(
                f"the SMTP relay {s.host}:{s.port} does not offer STARTTLS; "
                "refusing to send mail without TLS"
            )
        try:
            smtp.starttls(context=self.transport.tls_context())
        except ssl.SSLError as exc:
            raise TransportError(
                f"TLS with the SMTP relay {s.host}:{s.port} failed verification ({exc.reason})"
            ) from exc
        smtp.ehlo()
        if s.username:
            smtp.login(s.username, s.password or "")

    def close(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (smtplib.SMTPException, OSError):
                self._smtp.close()
            self._smtp = None

    def send(self, sender: str, recipient: str, raw: bytes) -> Delivery:
        """Send one message to one recipient; per-message outcomes never raise."""
        if self._smtp is None:
            self._connect()
        smtp = self._smtp
        try:
            envelope = self._envelope(smtp, sender, recipient)
        except smtplib.SMTPServerDisconnected:
            self._smtp = None  # nothing was accepted yet: safe to try again later
            return Delivery(Outcome.RETRY, 421, "", self.tls)
        if envelope is not None:
            return envelope
        return self._data(smtp, raw)

    def _envelope(self, smtp: smtplib.SMTP, sender: str, recipient: str) -> Delivery | None:
        """MAIL FROM and RCPT TO; a Delivery when either is refused, else None."""
        for stage, command, arg in (("mail", smtp.mail, sender), ("rcpt", smtp.rcpt, recipient)):
            code, reply = command(arg)
            outcome, enhanced = classify(stage, code, reply)
            if outcome is not Outcome.SENT:
                self._reset(smtp)
                return Delivery(outcome, code, enhanced, self.tls)
        return None

    def _data(self, smtp: smtplib.SMTP, raw: bytes) -> Delivery:
        try:
            code, reply = smtp.data(raw)
        except smtplib.SMTPServerDisconnected:
            self._smtp = None  # the relay may have the message: never resend it blindly
            return Delivery(Outcome.UNKNOWN, 0, "", self.tls)
        except smtplib.SMTPDataError as exc:
            code, reply = exc.smtp_code, exc.smtp_error
            self._reset(smtp)
        outcome, enhanced = classify("data", code, reply)
        return Delivery(outcome, code, enhanced, self.tls)

    def _reset(self, smtp: smtplib.SMTP) -> None:
        try:
            smtp.rset()
        except smtplib.SMTPServerDisconnected:
            self._smtp = None
