"""Recovery codes (generate, shown once) and recovery enrolment (code -> new passkey)."""

from __future__ import annotations

from flask import jsonify, redirect, render_template, request, session, url_for
from flask_login import current_user

from auth import recovery
from auth import webauthn_ceremonies as ceremonies
from auth.blueprint import (
    bp,
    credential_body,
    options_response,
    pending_challenge,
    refusal,
    relying_party,
)
from auth.errors import AuthRefused, EnrollmentLinkInvalid
from auth.models import User
from auth.permissions import PUBLIC, SIGNED_IN, allow
from auth.service import RECOVERY, mark_link_used, open_enrollment_link
from auth.stepup import require_recent_assertion
from core import audit
from core.db import get_session

GRANT = "auth_recovery_grant"  # the recovery-enrolment token, kept out of URLs

allow("auth.recovery_codes_page", SIGNED_IN)
allow("auth.recovery_codes_generate", SIGNED_IN)
for _endpoint in (
    "recover_page", "recover_submit", "recover_enroll_page", "recover_enroll_options",
    "recover_enroll_verify",
):
    allow(f"auth.{_endpoint}", PUBLIC)


@bp.get("/recovery-codes")
def recovery_codes_page():
    unused = recovery.unused_count(get_session(), current_user.id)
    return render_template("auth/recovery_codes.html", unused=unused, codes=None)


@bp.post("/recovery-codes")
@require_recent_assertion()
def recovery_codes_generate():
    db = get_session()
    codes = recovery.generate_codes(db, current_user._get_current_object())
    db.commit()
    return render_template("auth/recovery_codes.html", unused=len(codes), codes=codes)


@bp.get("/recover")
def recover_page():
    return render_template("auth/recover.html")


@bp.post("/recover")
def recover_submit():
    db = get_session()
    try:
        _user, token = recovery.redeem_code(
            db, request.form.get("email", ""), request.form.get("code", "")
        )
    except AuthRefused as exc:
        db.commit()  # the refusal's audit event
        return render_template("auth/recover.html", error=str(exc)), 400
    db.commit()
    session[GRANT] = token
    return redirect(url_for("auth.recover_enroll_page"))


@bp.get("/recover/enroll")
def recover_enroll_page():
    try:
        _granted_user()
    except EnrollmentLinkInvalid:
        return _grant_invalid()
    return render_template("auth/recover_enroll.html")


@bp.post("/recover/enroll/options")
def recover_enroll_options():
    db = get_session()
    _link, user = _granted_user()
    challenge_id, options = ceremonies.registration_options(db, user, relying_party())
    return options_response("recovery", challenge_id, options)


@bp.post("/recover/enroll/verify")
def recover_enroll_verify():
    challenge_id = pending_challenge("recovery")
    db = get_session()
    link, user = _granted_user()
    try:
        passkey = ceremonies.complete_registration(
            db, user, challenge_id, credential_body(), relying_party()
        )
    except AuthRefused as exc:
        return refusal(exc, "auth.recovery_enrollment_refused")
    mark_link_used(db, link)
    audit.record(db, user.email, "auth.recovery_enrollment_completed", user.id,
                 passkey=passkey.id)
    recovery.notify_admins(db, "recovery_passkey_registered", user.id, passkey=passkey.id)
    db.commit()
    session.pop(GRANT, None)
    return jsonify(redirect=url_for("auth.login_page"))


def _granted_user():
    db = get_session()
    link = open_enrollment_link(db, session.get(GRANT), purpose=RECOVERY)
    return link, db.get(User, link.user_id)


def _grant_invalid():
    message = "This recovery has expired or was completed. Start again with a recovery code."
    return render_template("auth/enroll_invalid.html", message=message), 404
