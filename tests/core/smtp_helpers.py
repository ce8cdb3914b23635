"""Scripted SMTP servers for transport tests: STARTTLS with the dev certificate, or none."""

from __future__ import annotations

import ssl
from contextlib import contextmanager
from pathlib import Path

from core.dev_smtp import _BoundController, _listen, ensure_certificate


class ScriptedHandler:
    """Answers MAIL/RCPT/DATA as told; records what it accepted."""

    def __init__(self, mail=None, rcpt=None, data=None, drop_after_data=False):
        self.replies = {"mail": mail, "rcpt": rcpt, "data": data}
        self.drop_after_data = drop_after_data
        self.received: list[tuple[list[str], bytes]] = []

    async def handle_MAIL(self, server, session, envelope, address, options):  # noqa: N802
        if self.replies["mail"]:
            return self.replies["mail"]
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, options):  # noqa: N802
        if self.replies["rcpt"]:
            return self.replies["rcpt"]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        if self.drop_after_data:
            server.transport.abort()
            return "250 OK"
        self.received.append((list(envelope.rcpt_tos), envelope.content))
        return self.replies["data"] or "250 OK"


@contextmanager
def scripted_server(folder: Path, handler, starttls: bool = True):
    """Yield (port, ca_file) of a server on localhost running `handler`."""
    cert, key = ensure_certificate(folder)
    kwargs = {}
    if starttls:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        kwargs = {"tls_context": context, "require_starttls": True}
    controller = _BoundController(handler, _listen("localhost", 0), **kwargs)
    controller.start()
    try:
        yield controller.port, str(cert)
    finally:
        controller.stop()
