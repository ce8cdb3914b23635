"""The `auth` blueprint and the plumbing its WebAuthn JSON endpoints share."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, request, session

from auth import webauthn_ceremonies as ceremonies
from auth.errors import AuthRefused
from core import audit
from core.db import get_session

bp = Blueprint("auth", __name__, url_prefix="/auth")

# Flask-session keys remembering which challenge a flow's options call issued.
PENDING = {
    "register": "auth_pending_register",
    "authenticate": "auth_pending_authenticate",
    "step_up": "auth_pending_step_up",
    "recovery": "auth_pending_recovery",
}


def relying_party() -> ceremonies.RelyingParty:
    return ceremonies.RelyingParty.from_config(current_app.config)


def options_response(flow: str, challenge_id: str, options: str) -> Response:
    """Commit the issued challenge, remember its id for `flow`, answer the options JSON."""
    get_session().commit()
    session[PENDING[flow]] = challenge_id
    return Response(options, mimetype="application/json")


def pending_challenge(flow: str) -> str | None:
    """The challenge id of `flow`'s options call (forgotten: a challenge is used once)."""
    return session.pop(PENDING[flow], None)


def refusal(exc: AuthRefused, action: str):
    """Record a refused ceremony (the consumed challenge stays consumed) and answer JSON."""
    db = get_session()
    audit.record(db, exc.actor, action, exc.target, reason=exc.reason)
    db.commit()
    return jsonify(error=str(exc)), exc.status_code


def credential_body() -> dict:
    body = request.get_json(silent=True)
    return body if isinstance(body, dict) else {}
