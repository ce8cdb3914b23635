"""The step-up page and its WebAuthn JSON pair, bound to the current server session."""

from __future__ import annotations

from flask import jsonify, render_template, request, url_for
from flask_login import current_user

from auth import webauthn_ceremonies as ceremonies
from auth.blueprint import (
    bp,
    credential_body,
    options_response,
    pending_challenge,
    refusal,
    relying_party,
)
from auth.errors import AuthRefused
from auth.permissions import SIGNED_IN, allow
from auth.server_sessions import mark_stepped_up
from auth.sessions import current_staff_session, replace_cookie_token
from auth.stepup import safe_next
from core.db import get_session

for _endpoint in ("step_up_page", "step_up_options", "step_up_verify"):
    allow(f"auth.{_endpoint}", SIGNED_IN)


@bp.get("/step-up")
def step_up_page():
    target = safe_next(request.args.get("next"))
    verify_url = url_for("auth.step_up_verify", next=target)
    return render_template("auth/step_up.html", verify_url=verify_url)


@bp.post("/step-up/options")
def step_up_options():
    db = get_session()
    challenge_id, options = ceremonies.step_up_options(
        db, current_user._get_current_object(), current_staff_session().id, relying_party()
    )
    return options_response("step_up", challenge_id, options)


@bp.post("/step-up/verify")
def step_up_verify():
    challenge_id = pending_challenge("step_up")
    db = get_session()
    row = current_staff_session()
    try:
        ceremonies.complete_step_up(
            db, current_user._get_current_object(), row.id, challenge_id, credential_body(),
            relying_party(),
        )
    except AuthRefused as exc:
        return refusal(exc, "auth.step_up_refused")
    replace_cookie_token(mark_stepped_up(db, row))
    db.commit()
    return jsonify(redirect=safe_next(request.args.get("next")))
