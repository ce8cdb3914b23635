"""The development mailbox: what the local SMTP server caught (admins only, dev mode only)."""

from __future__ import annotations

from email import message_from_bytes, policy

from flask import Blueprint, abort, current_app, render_template
from flask_login import current_user
from sqlalchemy import select

from auth.models import Role
from auth.permissions import allow
from core.audit import record
from core.crypto import key_ring
from core.db import get_session
from core.models import CaughtMessage

bp = Blueprint("demo", __name__, url_prefix="/dev")
ADMINS = frozenset({Role.ADMIN})


def _require_dev_mailbox() -> None:
    if not current_app.config["DEV_MAILBOX"]:
        abort(404)


def _parse(message: CaughtMessage):
    raw = key_ring().decrypt(message.raw, "caught_messages", "raw", message.id)
    return message_from_bytes(raw, policy=policy.default)


@bp.get("/mailbox")
def mailbox():
    _require_dev_mailbox()
    session = get_session()
    messages = session.scalars(
        select(CaughtMessage).order_by(CaughtMessage.received_at.desc()).limit(200)
    ).all()
    rows = [(m, _parse(m)) for m in messages]
    record(session, current_user.email, "phi.view", "dev_mailbox", messages=len(rows))
    session.commit()
    return render_template("demo/mailbox.html", rows=rows)


@bp.get("/mailbox/<message_id>")
def message(message_id: str):
    _require_dev_mailbox()
    session = get_session()
    caught = session.get(CaughtMessage, message_id)
    if caught is None:
        abort(404)
    parsed = _parse(caught)
    text = parsed.get_body(preferencelist=("plain",))
    html = parsed.get_body(preferencelist=("html",))
    record(session, current_user.email, "phi.view", f"dev_mailbox/{message_id}")
    session.commit()
    return render_template(
        "demo/message.html", caught=caught, parsed=parsed,
        text=text.get_content() if text else "", html=html.get_content() if html else "",
    )


allow("demo.mailbox", ADMINS)
allow("demo.message", ADMINS)
