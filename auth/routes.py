"""Sign-in, enrolment and sign-out pages and their WebAuthn JSON endpoints."""

from __future__ import annotations

from flask import jsonify, redirect, render_template, url_for
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
from auth.errors import AuthRefused, EnrollmentLinkInvalid
from auth.models import User
from auth.permissions import PUBLIC, SIGNED_IN, allow
from auth.service import mark_link_used, open_enrollment_link
from auth.sessions import end_session, login_manager, start_session
from core import audit
from core.db import get_session

__all__ = ["bp", "login_manager"]

for _endpoint in (
    "login_page", "login_options", "login_verify", "enroll_page", "enroll_options",
    "enroll_verify",
):
    allow(f"auth.{_endpoint}", PUBLIC)
allow("auth.logout", SIGNED_IN)


@bp.get("/login")
def login_page():
    if current_user.is_authenticated:
        return redirect(url_for("analytics.dashboard"))
    return render_template("auth/login.html")


@bp.post("/login/options")
def login_options():
    challenge_id, options = ceremonies.authentication_options(get_session(), relying_party())
    return options_response("authenticate", challenge_id, options)


@bp.post("/login/verify")
def login_verify():
    challenge_id = pending_challenge("authenticate")
    db = get_session()
    try:
        user = ceremonies.complete_authentication(
            db, challenge_id, credential_body(), relying_party()
        )
    except AuthRefused as exc:
        return refusal(exc, "auth.sign_in_refused")
    db.commit()
    start_session(user, stepped_up=True)
    return jsonify(redirect=url_for("analytics.dashboard"))


@bp.get("/enroll/<token>")
def enroll_page(token: str):
    try:
        link = open_enrollment_link(get_session(), token)
    except EnrollmentLinkInvalid as exc:
        return render_template("auth/enroll_invalid.html", message=str(exc)), 404
    user = get_session().get(User, link.user_id)
    return render_template("auth/enroll.html", token=token, user=user)


@bp.post("/enroll/<token>/options")
def enroll_options(token: str):
    db = get_session()
    link = open_enrollment_link(db, token)
    user = db.get(User, link.user_id)
    challenge_id, options = ceremonies.registration_options(db, user, relying_party())
    return options_response("register", challenge_id, options)


@bp.post("/enroll/<token>/verify")
def enroll_verify(token: str):
    challenge_id = pending_challenge("register")
    db = get_session()
    link = open_enrollment_link(db, token)
    user = db.get(User, link.user_id)
    try:
        ceremonies.complete_registration(db, user, challenge_id, credential_body(), relying_party())
    except AuthRefused as exc:
        return refusal(exc, "auth.enrollment_refused")
    mark_link_used(db, link)
    audit.record(db, user.email, "auth.signed_in", user.id, via="enrollment")
    db.commit()
    start_session(user, stepped_up=True)
    return jsonify(redirect=url_for("analytics.dashboard"))


@bp.post("/logout")
def logout():
    db = get_session()
    audit.record(db, current_user.email, "auth.signed_out", current_user.id)
    db.commit()
    end_session()
    return redirect(url_for("auth.login_page"))
